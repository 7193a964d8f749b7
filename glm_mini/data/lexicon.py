"""Bilingual word lists, written for the kit: every entry is an (English, Chinese) pair.

How it works
------------
The generated corpus must be bilingual and *parallel where asked*, so each entity is stored once with both surface
forms. Open-ended entity classes are built combinatorially so that a small model cannot memorize them:

- Chinese person names are a surname plus one or two given-name syllables, written in pinyin (English) and hanzi
  (Chinese): 40 surnames x (50 + 30*29) given names, about 37 k names. Western names carry a common transliteration.
- Town, river and pet names are made of invented syllables, each with a fixed transliteration character
  (``"ka"`` <-> ``"卡"``), so ``"Kalomi"`` and ``"卡洛米"`` name the same place: about 13 k towns.

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
    "Xu/徐, Sun/孙, Hu/胡, Zhu/朱, Gao/高, Lin/林, He/何, Guo/郭, Ma/马, Luo/罗, Song/宋, Zheng/郑, Xie/谢, Han/韩, "
    "Tang/唐, Feng/冯, Dong/董, Cheng/程, Cao/曹, Yuan/袁, Deng/邓, Shen/沈, Peng/彭, Su/苏, Jiang/蒋, Cai/蔡, "
    "Ding/丁, Wei/魏, Ye/叶, Pan/潘"
)
GIVEN_SYLLABLES = _pairs(
    "Wei/伟, Fang/芳, Na/娜, Min/敏, Jing/静, Li/丽, Qiang/强, Lei/磊, Jun/军, Yang/洋, Yong/勇, Yan/艳, Jie/杰, "
    "Tao/涛, Ming/明, Chao/超, Xiu/秀, Xia/霞, Ping/平, Gang/刚, Hui/慧, Hong/红, Lan/兰, Hua/华, Bo/波, Ning/宁, "
    "Xin/欣, Yu/宇, Hao/浩, Kai/凯, Jian/建, De/德, Zhi/志, Chun/春, Qing/清, Shan/山, Hai/海, Long/龙, Fei/飞, "
    "Rong/荣, Xiang/祥, Yun/云, Zhen/珍, Shu/淑, Mei/梅, Ying/英, Guang/光, Liang/亮, Bin/斌, Xue/雪"
)
WESTERN_NAMES = _pairs(
    "Anna/安娜, David/大卫, Maria/玛丽亚, Peter/彼得, Sophie/索菲, Thomas/托马斯, Emma/艾玛, Lucas/卢卡斯, "
    "Olivia/奥利维亚, Daniel/丹尼尔, Laura/劳拉, Martin/马丁, Clara/克拉拉, Samuel/塞缪尔, Julia/朱莉娅, "
    "Oscar/奥斯卡, Nina/尼娜, Victor/维克多, Alice/爱丽丝, Henry/亨利"
)
# Invented syllables and the character that transliterates each one.
SYLLABLES = _pairs(
    "ka/卡, lo/洛, mi/米, ran/兰, tor/托, sen/森, bel/贝, vin/温, dor/多, ta/塔, ri/里, nor/诺, "
    "ma/玛, sa/萨, lin/林, ber/伯, gen/根, fa/法, mon/蒙, ze/泽, qui/基, ha/哈, pel/佩, wen/文, ko/科, pa/帕, "
    "ne/内, si/斯, ke/克, te/特, ya/亚, pu/普, go/戈, lu/卢, xi/西, da/达"
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

# --- the world-state stories (``world.py``): what people do, feel and carry, and how time is told -------------------
# Objects that change hands are a colour plus a thing ("the red umbrella" / "红色的伞"), so several can coexist.
ACTIVITIES = _pairs(
    "read a newspaper/看了一份报纸, wrote a short letter/写了一封短信, drank a cup of tea/喝了一杯茶, "
    "looked at the old photos/看了看旧照片, cleaned the windows/擦了擦窗户, watered the flowers/给花浇了水, "
    "listened to the radio/听了一会儿收音机, fixed a broken chair/修好了一把坏椅子, sang a quiet song/轻轻地唱了一首歌, "
    "counted the money twice/把钱数了两遍, made a phone call/打了一个电话, learned a new word/学会了一个新词, "
    "drew a small picture/画了一幅小画, played chess/下了一盘棋, took a short rest/休息了一下, "
    "answered a few questions/回答了几个问题, tried on a new coat/试穿了一件新外套, swept the floor/扫了地, "
    "opened every window/打开了所有的窗户, wrote down a plan/写下了一个计划, sat by the window/在窗边坐了一会儿, "
    "washed the dishes/洗了碗, practised the piano/练了一会儿钢琴, planted a young tree/种了一棵小树, "
    "checked the weather report/看了天气预报, helped a child cross the street/帮一个孩子过了马路, "
    "waited for a friend/等了一个朋友, made a cup of coffee/冲了一杯咖啡, told a funny story/讲了一个有趣的故事, "
    "asked for directions/问了路, took a few photos/拍了几张照片, paid the bill/付了账, "
    "borrowed a pencil/借了一支铅笔, climbed the hill behind the house/爬上了房子后面的小山, "
    "studied a map of the city/研究了一张城市地图, baked some cookies/烤了一些饼干, "
    "looked for a lost glove/找了一只丢了的手套, visited a sick neighbour/看望了生病的邻居, "
    "turned off the lights/关了灯, thought about the future/想了想将来的事"
)
FEELINGS = _pairs(
    "happy/高兴, tired/累, hungry/饿, calm/平静, excited/兴奋, worried/担心, surprised/惊讶, proud/自豪, "
    "sleepy/困, nervous/紧张, lucky/幸运, lonely/孤单, relaxed/轻松, thirsty/渴, curious/好奇, sad/难过, "
    "grateful/感激, bored/无聊, confident/自信, satisfied/满意"
)
MOVES = _pairs(  # "{p} {verb} the {place}" / "{p}{verb}{place}"
    "went to/去了, walked to/走到了, hurried to/赶到了, took the bus to/坐公交车去了, rode a bicycle to/骑自行车去了, "
    "drove to/开车去了, returned to/回到了, came back to/又来到了, ran to/跑到了, took a taxi to/打车去了"
)
# (English, Chinese, minutes the clock moves forward); "{h}" is filled with the hour
ADVERBIALS = (
    ("At {h} o'clock, ", "{h}点钟，", 0), ("A little later, ", "过了一会儿，", 10), ("Half an hour later, ", "半小时以后，", 30),
    ("An hour later, ", "一个小时以后，", 60), ("Then ", "然后，", 15), ("After that, ", "在那之后，", 20),
    ("Soon ", "不久，", 10), ("Shortly after, ", "没过多久，", 5), ("Two hours later, ", "两个小时以后，", 120),
    ("Around {h} o'clock, ", "大约{h}点，", 0), ("Meanwhile, ", "与此同时，", 0), ("Next, ", "接着，", 10),
    ("", "", 10), ("", "", 10), ("", "", 5),
)
TAILS = (  # a clause after the main one; "{he}", "{feel}", "{w}" are filled in
    ("", ""), ("", ""), ("", ""),
    (", because {he} felt {feel}", "，因为{he}觉得很{feel}"), (" and felt {feel} afterwards", "，之后觉得很{feel}"),
    (", as {he} had planned", "，这是{he}早就计划好的"), (" without saying a word", "，一句话也没说"),
    (", although it was {w}", "，虽然天气{w}"), (", just as the clock struck", "，正好钟声响了"),
    (" before anyone else", "，比别人都早"), (", which made {him} {feel}", "，这让{him}很{feel}"),
    (" for the first time in weeks", "，这是几个星期以来的第一次"), (" in a great hurry", "，非常匆忙"),
)
# What people talk about and say: everyday nouns and short clauses, chosen so that the Chinese side uses the
# characters of ordinary text (so a tokenizer trained on the corpus rarely falls back to bytes).
TOPICS = _pairs(
    "work/工作, school/学校的事, family/家庭, history/历史, music/音乐, films/电影, the news/新闻, the economy/经济, "
    "the country/国家, society/社会, culture/文化, science/科学, technology/技术, the government/政府, "
    "education/教育, health/健康, sports/体育运动, travel/旅行, city life/城市生活, the countryside/农村, "
    "children/孩子, parents/父母, old friends/老朋友, the future/未来, the past/过去, dreams/理想, plans/计划, "
    "daily life/日常生活, time/时间, money/钱, nature/大自然, the environment/环境, clean air/干净的空气, "
    "the sea/大海, mountains/高山, forests/森林, plants/植物, languages/语言, writing/文字, calligraphy/书法, "
    "mathematics/数学, physics/物理, chemistry/化学, geography/地理, medicine/医学, the law/法律, art/艺术, "
    "a football match/一场足球比赛, basketball/篮球, computer games/电脑游戏, the Spring Festival/春节, "
    "the Mid-Autumn Festival/中秋节, a wedding/一场婚礼, a birthday party/一个生日聚会, the holidays/假期, "
    "the weekend/周末, prices/物价, a new company/一家新公司, machines/机器, computers/电脑, mobile phones/手机, "
    "the internet/互联网, a magazine/一本杂志, a novel/一部小说, poetry/诗歌, memories/回忆, love/爱情, "
    "friendship/友谊, a difficult choice/一个困难的选择, a good chance/一个好机会, success/成功, failure/失败, "
    "experience/经验, knowledge/知识, good habits/好习惯, the rules/规则, safety/安全, peace/和平, war/战争, "
    "the world/世界, the earth/地球, the sun/太阳, the moon/月亮, the stars/星星, the universe/宇宙, "
    "the seasons/季节, spring/春天, summer/夏天, autumn/秋天, winter/冬天, old buildings/老建筑, "
    "the roads/道路, traffic/交通, cars/汽车, trains/火车, aeroplanes/飞机, ships/轮船, e-mail/电子邮件, "
    "photographs/照片, songs/歌曲, dancing/跳舞, the theatre/戏剧, the hospital/医院的事, the village/村子, "
    "farming/种地, the harvest/收成, the market prices/市场的价格, an old story/一个老故事, a strange dream/一个奇怪的梦, "
    "a letter from abroad/一封国外来信, their grandparents/他们的祖父母, the neighbours/邻居们, the exam/考试, "
    "homework/作业, a new teacher/新来的老师, the library's opening hours/图书馆开门的时间, a lost dog/一只走丢的狗, "
    "the price of rice/米价, the river's water level/河水的水位, a broken bridge/一座坏了的桥, the town's history/小镇的历史, "
    "a famous painter/一位有名的画家, an old song/一首老歌, the best tea/最好的茶, the bus timetable/公交时刻表, "
    "the new road/新修的路, the election/选举, a small business/一个小生意, the factory's workers/工厂的工人, "
    "the hot weather/炎热的天气, the cold wind/寒冷的风, the first snow/第一场雪, the heavy rain/大雨, "
    "a long journey/一次长途旅行, foreign countries/外国, the capital/首都, the map of the world/世界地图, "
    "the light of the moon/月光, a quiet evening/一个安静的晚上, an important meeting/一个重要的会议, "
    "the price of a house/房价, their own mistakes/自己的错误, the meaning of life/生命的意义, happiness/幸福"
)
SAYINGS = _pairs(
    "the new bridge would open next month/新桥下个月就要通车了, the bus had been late again/公交车又晚点了, "
    "the river was higher than last year/河水比去年高, the shop would close early/商店会早点关门, "
    "the harvest was good this year/今年的收成不错, a storm was coming/暴风雨就要来了, "
    "the tea was too strong/茶太浓了, the library needed more books/图书馆需要更多的书, "
    "the children had grown up quickly/孩子们长得很快, everything was more expensive now/现在什么都更贵了, "
    "the old school would be rebuilt/老学校要重建了, it was time to rest/该休息了, "
    "the road to the station was closed/去车站的路封了, nobody knew the answer/没有人知道答案, "
    "the meeting had been moved to Friday/会议改到了星期五, the concert was wonderful/音乐会很精彩, "
    "the doctor was very kind/医生非常和蔼, the water was safe to drink/这水可以放心喝, "
    "the museum had a new exhibition/博物馆有一个新展览, the price of fish had gone up/鱼价涨了, "
    "there was a problem with the computer/电脑出了问题, the train would arrive on time/火车会准时到达, "
    "the park was full of people/公园里到处都是人, the soup needed more salt/汤里需要再放点盐, "
    "the plan was not finished yet/计划还没有完成, the weather would change soon/天气很快就会变, "
    "the house was too small for them/房子对他们来说太小了, the story was true/这个故事是真的, "
    "the festival had been a great success/节日办得非常成功, a new family had moved in next door/隔壁搬来了一户新人家, "
    "the factory was looking for workers/工厂正在招工人, the old man had lived here for fifty years/那位老人在这里住了五十年, "
    "the price of vegetables had fallen/菜价降了, the police had found the lost child/警察找到了走失的孩子, "
    "the hospital was building a new wing/医院正在盖一栋新楼, the students were preparing for the exam/学生们正在准备考试, "
    "the village had no electricity yesterday/村子昨天停电了, the company had opened a branch in the capital/公司在首都开了分店, "
    "the doctor advised more sleep/医生建议多睡觉, the film was based on a true story/这部电影是根据真实故事改编的, "
    "the lake had frozen over/湖面结冰了, the farmers needed rain/农民们需要下雨, "
    "the newspaper had printed the wrong date/报纸印错了日期, the team had won the final/球队赢了决赛, "
    "the singer would visit the town/那位歌手要来镇上, the workers wanted higher wages/工人们想要更高的工资, "
    "the shop sold fresh milk every morning/那家店每天早上卖新鲜牛奶, the mountain road was dangerous at night/山路晚上很危险, "
    "the bank had changed its rules/银行改了规定, the garden needed more sunlight/花园需要更多阳光, "
    "the island could only be reached by boat/那个岛只能坐船去, the writer had finished a new book/那位作家写完了一本新书, "
    "the city was planning a subway/城市正在计划修地铁, the birds came back every spring/鸟儿每年春天都会回来, "
    "the exam results would come out soon/考试成绩很快就要出来了, the soldiers had returned home/士兵们回家了, "
    "the price of oil was rising/油价在上涨, the king in the old story was very cruel/老故事里的国王非常残忍, "
    "the machine was broken again/机器又坏了, the temple on the hill was very old/山上的寺庙非常古老, "
    "the tea fields were green again/茶园又绿了, the clock in the square had stopped/广场上的钟停了, "
    "the hotel was full all week/酒店整个星期都住满了, the army had left the town/军队离开了小镇"
)
