"""Bilingual word lists, written for the kit: every entry is an (English, Chinese) pair.

How it works
------------
The generated corpus must be bilingual and *parallel where asked*, so each entity is stored once with both surface
forms. Open-ended entity classes are built combinatorially so that a small model cannot memorize them:

- Chinese person names are a surname plus one or two given-name syllables, written in pinyin (English) and hanzi
  (Chinese): 20 surnames x (30 + 30^2) given names, about 18 k names. Western names carry a common transliteration.
- Town, river and pet names are made of invented syllables, each with a fixed transliteration character
  (``"ka"`` <-> ``"卡"``), so ``"Kalomi"`` and ``"卡洛米"`` name the same place: about 14 k towns.

Closed classes (places, objects with their Chinese measure words, animals, professions, colours, weather, weekdays,
months, products, review adjectives) are short hand-written lists. No text here is copied from a third-party corpus;
the transliterations follow common usage (e.g. "Anna" = "安娜").
"""

from __future__ import annotations

from typing import NamedTuple


class Pair(NamedTuple):
    en: str
    zh: str


class Thing(NamedTuple):
    """A countable noun: English singular and plural, Chinese noun and its measure word (个, 本, 只, ...)."""

    en: str
    en_plural: str
    zh: str
    measure: str


def _pairs(text: str) -> tuple[Pair, ...]:
    """Parse ``"en/zh, en/zh, ..."`` into pairs (keeps the lists below compact and readable)."""
    return tuple(Pair(*item.strip().split("/")) for item in text.split(",") if item.strip())


def _things(text: str) -> tuple[Thing, ...]:
    """Parse ``"en/en_plural/zh/measure, ..."`` into countable nouns."""
    return tuple(Thing(*item.strip().split("/")) for item in text.split(",") if item.strip())


SURNAMES = _pairs(
    "Li/李, Wang/王, Zhang/张, Liu/刘, Chen/陈, Yang/杨, Zhao/赵, Huang/黄, Zhou/周, Wu/吴, "
    "Xu/徐, Sun/孙, Hu/胡, Zhu/朱, Gao/高, Lin/林, He/何, Guo/郭, Ma/马, Luo/罗"
)
GIVEN_SYLLABLES = _pairs(
    "Wei/伟, Fang/芳, Na/娜, Min/敏, Jing/静, Li/丽, Qiang/强, Lei/磊, Jun/军, Yang/洋, Yong/勇, Yan/艳, Jie/杰, "
    "Tao/涛, Ming/明, Chao/超, Xiu/秀, Xia/霞, Ping/平, Gang/刚, Hui/慧, Hong/红, Lan/兰, Hua/华, Bo/波, Ning/宁, "
    "Xin/欣, Yu/宇, Hao/浩, Kai/凯"
)
WESTERN_NAMES = _pairs(
    "Anna/安娜, David/大卫, Maria/玛丽亚, Peter/彼得, Sophie/索菲, Thomas/托马斯, Emma/艾玛, Lucas/卢卡斯, "
    "Olivia/奥利维亚, Daniel/丹尼尔, Laura/劳拉, Martin/马丁, Clara/克拉拉, Samuel/塞缪尔, Julia/朱莉娅, "
    "Oscar/奥斯卡, Nina/尼娜, Victor/维克多, Alice/爱丽丝, Henry/亨利"
)
# Invented syllables and the character that transliterates each one.
SYLLABLES = _pairs(
    "ka/卡, lo/洛, mi/米, ran/兰, tor/托, sen/森, bel/贝, vin/温, dor/多, ta/塔, ri/里, nor/诺, "
    "ma/玛, sa/萨, lin/林, ber/伯, gen/根, fa/法, mon/蒙, ze/泽, qui/基, ha/哈, pel/佩, wen/文"
)
PLACES = _pairs(
    "library/图书馆, market/市场, park/公园, station/车站, museum/博物馆, hospital/医院, school/学校, bank/银行, "
    "restaurant/饭店, bookstore/书店, post office/邮局, bakery/面包店, harbor/港口, garden/花园, cinema/电影院, "
    "hotel/酒店, tea house/茶馆, swimming pool/游泳池, zoo/动物园, factory/工厂"
)
THINGS = _things(
    "apple/apples/苹果/个, book/books/书/本, pen/pens/笔/支, loaf of bread/loaves of bread/面包/个, egg/eggs/鸡蛋/个, "
    "orange/oranges/橙子/个, banana/bananas/香蕉/根, notebook/notebooks/笔记本/本, umbrella/umbrellas/伞/把, "
    "chair/chairs/椅子/把, ticket/tickets/票/张, map/maps/地图/张, letter/letters/信/封, flower/flowers/花/朵, "
    "candle/candles/蜡烛/根, pear/pears/梨/个, cake/cakes/蛋糕/块, shirt/shirts/衬衫/件, hat/hats/帽子/顶, "
    "bag/bags/包/个, key/keys/钥匙/把, lamp/lamps/灯/盏, box/boxes/盒子/个, stamp/stamps/邮票/张, "
    "cup/cups/杯子/个, plate/plates/盘子/个, towel/towels/毛巾/条, kite/kites/风筝/只"
)
ANIMALS = _things(
    "dog/dogs/狗/只, cat/cats/猫/只, horse/horses/马/匹, rabbit/rabbits/兔子/只, bird/birds/鸟/只, fish/fish/鱼/条, "
    "duck/ducks/鸭子/只, goat/goats/山羊/只, cow/cows/牛/头, pig/pigs/猪/头, swan/swans/天鹅/只, "
    "squirrel/squirrels/松鼠/只, turtle/turtles/乌龟/只, parrot/parrots/鹦鹉/只"
)
PETS = _things("dog/dogs/狗/只, cat/cats/猫/只, rabbit/rabbits/兔子/只, parrot/parrots/鹦鹉/只, turtle/turtles/乌龟/只")
CONTAINERS = _pairs(
    "drawer/抽屉, blue box/蓝盒子, old suitcase/旧箱子, kitchen cupboard/厨房柜子, coat pocket/大衣口袋, "
    "flower pot/花盆, shoe box/鞋盒, tea tin/茶叶罐, backpack/背包, piano bench/钢琴凳"
)
PROFESSIONS = _pairs(
    "teacher/老师, doctor/医生, engineer/工程师, farmer/农民, baker/面包师, writer/作家, nurse/护士, driver/司机, "
    "painter/画家, lawyer/律师, cook/厨师, student/学生, musician/音乐家, pilot/飞行员, scientist/科学家, "
    "gardener/园丁, fisherman/渔民, librarian/图书管理员"
)
COLORS = _pairs("red/红色, blue/蓝色, green/绿色, yellow/黄色, white/白色, black/黑色, purple/紫色, gray/灰色, brown/棕色")
WEATHER = _pairs("sunny/晴朗, rainy/下雨, cloudy/多云, windy/刮风, snowy/下雪, foggy/有雾, warm/暖和, cold/寒冷")
WEEKDAYS = _pairs(
    "Monday/星期一, Tuesday/星期二, Wednesday/星期三, Thursday/星期四, Friday/星期五, Saturday/星期六, Sunday/星期日"
)
MONTHS = tuple(
    Pair(en, f"{zh}月")
    for en, zh in zip(
        "January February March April May June July August September October November December".split(),
        "一 二 三 四 五 六 七 八 九 十 十一 十二".split(),
    )
)
PRODUCTS = _pairs(
    "tea/茶叶, silk/丝绸, fish/鱼, wine/葡萄酒, paper/纸, pottery/陶器, rice/大米, apples/苹果, salt/盐, glass/玻璃, "
    "cheese/奶酪, honey/蜂蜜, wool/羊毛, bicycles/自行车, clocks/钟表, boats/小船"
)
FOODS = _pairs(
    "noodles/面条, dumplings/饺子, rice/米饭, soup/汤, fried fish/煎鱼, tofu/豆腐, salad/沙拉, porridge/粥, "
    "roast duck/烤鸭, vegetables/蔬菜, bread/面包, steamed buns/包子"
)
GOOD_WORDS = _pairs(
    "excellent/非常好, delicious/很好吃, friendly/很友好, clean/很干净, comfortable/很舒服, quick/很快, "
    "cheap/很便宜, quiet/很安静, beautiful/很漂亮, helpful/很热心"
)
BAD_WORDS = _pairs(
    "terrible/很糟糕, tasteless/不好吃, rude/很不礼貌, dirty/很脏, uncomfortable/很不舒服, slow/很慢, "
    "overpriced/太贵了, noisy/很吵, ugly/很难看, careless/很马虎"
)
REVIEW_TOPICS = _pairs("food/饭菜, service/服务, room/房间, staff/服务员, price/价格, view/风景, music/音乐, bed/床")
