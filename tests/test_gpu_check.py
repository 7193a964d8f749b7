"""scale_up.gpu_check refuses clearly without CUDA (this test machine has none; where CUDA exists it is skipped)."""

import pytest
import torch

from scale_up.gpu_check import main, require_cuda


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: the check would run for real")
def test_without_cuda_it_stops_with_a_clear_message(capsys):
    assert main([]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="torch.cuda.is_available\\(\\) is False"):
        require_cuda()
