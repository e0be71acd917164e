"""The suggester's cues: intent keywords and phrases, the words that make or break a topic,
and the patterns that pick values out of free text (split from suggest.py, issue 11 §5).

Everything here is data and small pure functions over it; `suggest.Suggester` reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from liuan_bot.commands.fields import DASH, RECORD_PREFIXES
from liuan_bot.commands.grammar import normalise

# --- intent cues ----------------------------------------------------------------------------

# Keyword → weight, per intent; a word may count for several intents.
_INTENT_WORDS: dict[str, dict[str, float]] = {
    "conference": {
        "发布会": 3, "新闻发布会": 3, "吹风会": 3, "政策吹风会": 3, "记者会": 3,
        "记者见面会": 3, "通气会": 3, "新闻通气会": 3, "媒体通气会": 3, "自办发布会": 3,
        "召开": 1, "举办": 1, "举行": 1, "开会": 1, "申请": 1, "新闻发布": 2, "政务发布": 1,
        "发布": 0.5, "开个": 0.5, "自办": 2, "备案": 2, "报备": 2,
    },
    "incident": {
        "突发": 3, "突发事件": 3, "事故": 3, "安全事故": 3, "交通事故": 3, "车祸": 3,
        "火灾": 3, "火情": 3, "起火": 3, "着火": 3, "失火": 3, "爆炸": 3, "坍塌": 3,
        "垮塌": 3, "倒塌": 3, "侧翻": 3, "泄漏": 3, "山体滑坡": 3, "滑坡": 3, "泥石流": 3,
        "汛情": 3, "洪水": 3, "洪涝": 3, "内涝": 2, "险情": 3, "决堤": 3, "溃坝": 3, "管涌": 3,
        "地震": 3, "溺水": 3, "中毒": 3, "食物中毒": 3, "伤亡": 3, "死亡": 2, "受伤": 2,
        "遇难": 3, "失联": 2, "被困": 2, "人员被困": 3, "群体性事件": 3, "停电": 2,
        "停水": 2, "救援": 2, "抢险": 2, "发生": 1, "首发": 1, "续报": 2, "防汛": 1,
        "紧急": 1, "应急": 1,
    },
    "hot_issue": {
        "舆情": 3, "网络舆情": 3, "政务舆情": 3, "热点": 2, "热点问题": 2, "热搜": 3,
        "网上": 3, "网络": 2, "网友": 3, "网民": 3, "网帖": 3, "帖子": 2, "发帖": 3,
        "微博": 2, "抖音": 2, "快手": 2, "小红书": 2, "今日头条": 2, "头条": 1, "贴吧": 2,
        "百度贴吧": 2, "论坛": 2, "朋友圈": 2, "微信群": 2, "公众号": 1, "视频号": 2,
        "爆料": 3, "曝光": 2, "谣言": 3, "造谣": 3, "传言": 3, "传谣": 3, "不实": 2,
        "炒作": 2, "发酵": 2, "转发": 1, "评论": 1, "负面": 2, "12345热线": 2, "留言板": 2,
        "投诉": 2, "举报": 1, "回应": 1,
    },
    "policy": {
        "政策": 3, "新政策": 3, "新政": 3, "医保新政": 3, "政策文件": 3, "重大政策": 2,
        "文件": 2, "出台": 2, "印发": 2, "公布": 1, "发文": 2, "施行": 2, "实施": 0.5,
        "办法": 2, "管理办法": 3, "条例": 2, "实施意见": 3, "实施方案": 2, "实施细则": 3,
        "细则": 2, "规定": 1, "规范性文件": 3, "征求意见稿": 2, "政策解读": 3, "解读": 2,
    },
    "risk": {
        "风险": 3, "风险评估": 6, "社会稳定风险评估": 6, "评估": 2, "稳评": 3, "函告": 4,
        "高风险": 3, "中风险": 3, "低风险": 3,
        "敏感": 2, "敏感事项": 3, "维稳": 2, "隐患": 1, "信访": 2, "上访": 2, "征地": 1,
        "拆迁": 1, "重大举措": 2, "重大活动": 1,
    },
    "roster": {
        "发言人": 2, "新闻发言人": 2, "发言人名单": 4, "报送": 2, "名单": 3, "更换": 1,
        "换成": 1, "换人": 2, "调整": 1, "变更": 1, "联络员": 2, "手机号": 1, "职务": 1,
    },
    "training": {
        "培训": 3, "培训班": 3, "轮训": 3, "参训": 3, "学习班": 2, "课程": 1, "结业": 2,
    },
}  # fmt: skip


def _by_word(tables: dict[str, dict[str, float]]) -> dict[str, tuple[tuple[str, float], ...]]:
    """Keyword → ((intent, weight), …)."""
    inverted: dict[str, tuple[tuple[str, float], ...]] = {}
    for intent, table in tables.items():
        for word, weight in table.items():
            inverted[word] = (*inverted.get(word, ()), (intent, weight))
    return inverted


_KEYWORDS = _by_word(_INTENT_WORDS)

# Phrases that jieba may cut in several ways: matched on the text itself.
_PATTERNS: tuple[tuple[str, re.Pattern[str], float], ...] = (
    (
        "hot_issue",
        re.compile(
            r"有人(?:在)?(?:说|传|发|爆料|反映|投诉|举报|议论|质疑)|网传|刷屏|上了?热搜|被曝"
        ),
        3,
    ),
    (
        "incident",
        re.compile(
            r"[0-9一二两三四五六七八九十几多]+(?:人|名|个人)(?:死亡|受伤|遇难|失联|被困|伤亡)"
            r"|(?:死|伤)了[0-9一二两三四五六七八九十几多]+个?人"
        ),
        3,
    ),
    ("roster", re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), 2),
    (
        "policy",
        re.compile(
            r"(?:出台|印发|公布|发布)[^，,。;；]{0,8}(?:政策|办法|方案|条例|规定|细则|意见|文件)"
        ),
        2,
    ),
)
# Order for equal scores: the more urgent first.
_PRIORITY = ("incident", "hot_issue", "conference", "policy", "risk", "roster", "training")

_CONFERENCE_NOUNS = (
    "发布会", "吹风会", "记者会", "记者见面会", "通气会",
)  # fmt: skip
_SELF_HELD = re.compile(
    r"自办|自己(?:开|办|搞|组织|召开|举办|举行)|我们自己|自行(?:召开|举办|组织)"
    r"|(?:本单位|我单位|单位里|局里|委里|办里|院里|本局|我局|本委|我委|部门里?)\s*(?:自己)?"
    r"(?:召开|举办|举行|组织|开|办|搞)|备案|报备"
)
# A question about counts (我们单位这季度开了几场？): `我的` shows the 4·2·1 progress.
_COUNT = re.compile(
    r"(?:开了|开过|办了|召开了|举办了|举行了|出席了|参加了|完成了|搞了)\s*(?:几|多少)\s*[场次个回]"
    r"|(?:几|多少)\s*[场次](?:发布会)?\s*(?:了|呢|啊|\?|$)|还差\s*(?:几|多少)"
    r"|(?:达标|完成任务|完成情况|考核情况)(?:了|没|吗|怎么样|如何|\?)"
)
_COUNT_REASON = "看起来您想了解本单位的完成情况，“我的”会列出本季度的发布会场次和4·2·1进度"
# Greetings and thanks alone: a short polite answer, no command.
_GREETING = (
    r"(?:(?:你|您|你们|您们|大家|各位|老师|领导)好|早上好|上午好|下午好|晚上好|早安|早|哈喽|嗨"
    r"|hi|hello|在吗|在不在|在么)"
)
_COURTESY = (
    r"(?:谢谢|多谢|感谢|辛苦|麻烦|有劳)(?:你们|您们|你|您|大家|各位|啦|了|哈|啊|呀|咯)*"
    r"|(?:好的|好|嗯|ok)(?=.*(?:谢|辛苦))"
)
_SMALL_TALK = re.compile(
    rf"(?:(?:{_GREETING}|{_COURTESY})(?:呀|啊|哈|吗|呢|啦)*[\s,.。!?~、…]*)+", re.IGNORECASE
)
_THANKS = re.compile(r"谢|辛苦|麻烦|有劳")
THANKS_REPLY = "不客气！有需要随时发消息给我，发送“帮助”可查看可用命令。"
GREETING_REPLY = "您好！我是六安市政务新闻发布助手，发送“帮助”可查看可用命令和示例。"


def small_talk(text: str) -> str | None:
    """The answer to a greeting or thanks alone (你好, 谢谢, 辛苦了), or None (issue 9 E3)."""
    norm = normalise(text).strip()
    if not norm or _SMALL_TALK.fullmatch(norm) is None:
        return None
    return THANKS_REPLY if _THANKS.search(norm) else GREETING_REPLY


# A question about one's own records (我们的申请批了没): 我的.
_QUERY = re.compile(
    r"(?:申请|备案|事项|审批|审核|查询|查一下|查看|查)[^，,。]{0,6}(?:进度|怎么样了|状态)"
    r"|进度(?:怎么样|如何|到哪|呢|吗|\?)|到哪(?:一步|了|儿)|批(?:了|下来|复了)(?:没|吗|没有|\?)"
    r"|审(?:批|核)(?:结果|情况|了没|通过了?(?:吗|没))|通过了?(?:吗|没有?)(?:\?|$)|办理情况"
    r"|我的(?:申请|事项|备案)|有(?:哪些|什么)待办"
)
# A conference is wanted (想开, 申请, 安排…), not only mentioned; nor already held.
_WANT = re.compile(
    r"想|要|准备|打算|计划|拟|申请|召开|举办|举行|开|办|搞|安排|组织|能不能|可以|需要|备案|报备"
)
_DONE = re.compile(r"开得|开完|开过|已经开|已召开|已举行|已经举行|结束了|很成功|圆满")
_ABOUT = re.compile(r"\s*(?:左右|前后|时许|许)")
_RECORD_START = re.compile(
    r"(?<![A-Za-z])(?:" + "|".join(RECORD_PREFIXES) + rf")(?=\s*[{DASH}]?\s*\d)", re.IGNORECASE
)

# --- what the words are, for topics -----------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    """A set of words written as one space-separated string."""
    return frozenset(text.split())


# Intent verbs, command words and fillers that never belong to a topic.
_FUNCTION = _words(
    """想开 开 开个 开一个 开次 搞个 办个 弄 弄个 做 做个 召开 举行 组织 准备 打算
    计划 拟 拟于 申请 公布 发 报 上报 报送 报备 备案 自办 发布会 新闻发布会 吹风会 安排 能 不能
    政策吹风会 记者会 记者见面会 通气会 新闻通气会 媒体通气会 自办发布会 开会 新闻发布
    政务发布 局里 单位 本单位 我局 本局 我单位 部门 市政府新闻办 新闻办 突发 突发事件 舆情
    报告 汇报 风险 风险评估 社会稳定风险评估 社会稳定风险 评估 稳评 函告 名单 培训 要开
    属于 存在 涉及 一起 一场 一次 一项 一条 一份 一下 下
    搞一个 做一个 办一个 弄一个 能不能 可不可以 行不行 吗 呢"""
)
_INTRO = _words(
    """讲讲 讲 讲一讲 讲一下 说说 说一说 聊聊 谈谈 介绍 介绍一下 通报 发布 解读 宣传 围绕
    关于 就 针对 宣讲 推介 主题 主题是 内容 内容是 实施 施行 出台 印发 推出 推行 开展 启动
    举办 搞 办 参加"""
)
_LOCATIVE = frozenset(("在", "于", "到"))
# Nouns that end a topic when they follow one (医保新政策, 秋粮收购实施方案).
_TAIL = _words(
    """政策 新政策 新政 文件 政策文件 办法 管理办法 方案 实施方案 条例 规定 细则 实施细则
    实施意见 意见 措施 解读 政策解读 培训 培训班"""
)
# Words too general to be a topic on their own (讲讲政策, 那个事故要回应).
_GENERIC = _words(
    """事故 事件 政策 新政策 新政 文件 风险 回应 情况 问题 工作 信息 发布 解读 通报 舆情 热点
    内容 主题 事情 事项 这事 此事 那事 有关情况 相关情况 有关工作 相关工作"""
)
_JOIN = frozenset(("的", "和", "与", "及", "暨", "、", "以及", " "))
_VAGUE_TIME = _words(
    """下个月 这个月 本月 下月 下周 本周 这周 下星期 上周 上个月 上次 之前 以前 月底 月初 月中
    年底 年初 近期 近日 最近 过几天 这几天 到时候 届时 今天 明天 后天 昨天 前天 今晚 昨晚 明晚
    上午 下午 晚上 中午 早上 凌晨 刚才 刚刚 现在 目前"""
)
_TIMEISH = re.compile(
    r"^(?:(?:[0-9]{1,2}|[零〇一二两三四五六七八九十]{1,3})(?:点|时|分|号|日|月|点钟|点半)?"
    r"|点|点钟|点半|半|号|(?:周|星期|礼拜)[一二三四五六日天1-7]?"
    r"|(?:今天|明天|后天|昨天|前天|今晚|明晚|昨晚|今早|明早|上午|下午|晚上|中午|早上|凌晨)+)$"
)
_WORDISH = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
_ORG_OR_PLACE = re.compile(
    r"^[\u4e00-\u9fff]{0,12}(?:局|委员会|委|办公室|办|厅|中心|政府|单位|部门|集团|公司"
    r"|市|县|区|乡|镇|街道)$"
)
# Clause fillers trimmed at the start of an event description.
_LEADING = _words(
    """我们 我 咱们 报告 紧急 注意 领导 各位 您好 你好 请问 这边 那个 这个 就是 嗯 哦 啊 喂 在
    于 刚才 刚刚 现在 目前 突发 突发事件 舆情 情况 有个 一个 接到 收到 听说 据了解 据悉 据报
    据说"""
)
_TRAILING = _words("了 啊 呀 吧 呢 的 啦 哦 嘛 吗 哈")
# A request about the event (需要发布信息, 怎么回应): the description stops there.
_META = _words("需要 要不要 怎么 如何 请示 请问 是否 该不该 咋办 怎么办 麻烦 请")
_CLAUSE_BREAK = re.compile(r"^[，,。.;；!！?？\n:：]+$")

# --- extraction patterns -----------------------------------------------------------------------

_QUOTED = re.compile(r"[《“\"「『]([^》”\"」』\n]{2,40})[》”\"」』]")
_LABELLED = re.compile(r"(?:主题|标题|题目|议题|事项)\s*(?:是|为|:)\s*([^,，。;；\n]{2,40})")
_URL = re.compile(r"https?://[^\s，。；）]+", re.IGNORECASE)
_VENUE = re.compile(
    r"在\s*([\u4e00-\u9fff0-9A-Za-z]{2,20}(?:会议室|发布厅|报告厅|会堂|礼堂|多功能厅|演播厅"
    r"|会议中心|宾馆|酒店))"
)
# `发布人王局长`, `出席领导：…`: who speaks is theirs to write, and it is not the topic.
_SPEAKER = re.compile(r"(?:发布人|发言人|出席人|出席领导|主讲)(?:是|为|:)?\s*[^，,。;；\s]{0,10}")
_VAGUE = re.compile(
    r"(?:春节|国庆|元旦|中秋|五一|清明|端午|节假日|假期)(?:期间|前后|前|后|以后|之前)?"
    r"|(?:明年|今年|年内|年底|年初|下个?月|本月|这个月|月底|月初|下周|本周|这周|近期|近日|过几天)"
    r"(?:[0-9一二三四五六七八九十]{1,2}月份?)?(?:起|底|初|中旬|上旬|下旬|前|以后|之前)?"
    r"|(?<![0-9年])[0-9一二三四五六七八九十]{1,2}月份?(?:起|底|初|中旬|上旬|下旬)"
)
_LIVE_ASK = re.compile(r"(?:要不要|是否|需不需要|用不用|能不能|可不可以)(?:网络|现场)?直播")
_LIVE_ANY = re.compile(
    r"(?:要不要|是否|需不需要|用不用|能不能|可不可以|不|无需|不用|不需要|不要|没有|需要|要)?"
    r"(?:网络|现场)?直播"
)
_LIVE_NO = re.compile(r"(?:不|无需|不用|不需要|不要|没有)(?:网络|现场)?直播")
_LIVE_YES = re.compile(r"直播")
_LEVEL = re.compile(
    r"(特别重大|特大|重大|较大|一般)(?=[^，,。;；]{0,4}(?:事故|事件|突发|火灾|险情|汛情|灾害|伤亡|级))"
)
_RISK_KINDS = ("重大政策", "重大举措", "重大活动", "敏感事项")
_RISK_KIND = re.compile("(?:属于|是)?(?:" + "|".join(_RISK_KINDS) + ")")
_RISK_LEVEL = re.compile(
    r"([高中低])风险|风险等级\s*(?:为|是|:)?\s*([高中低])|风险(?:较|很|比较|偏)([高低])(?!于)"
)
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_TITLE = re.compile(
    r"(?:办公室|党组|党委)?(?:常务)?副?(?:局长|主任|处长|科长|县长|区长|市长|秘书长|部长|院长"
    r"|书记|总经理|调研员|站长|所长|队长|馆长|主席|总工程师|总经济师)"
)
_NAME = re.compile(
    r"(?:换成|换为|改为|改成|变更为|调整为|(?:发言人|联络员)\s*(?:是|为|:)|姓名\s*(?:是|为|:)?)\s*"
    r"([\u4e00-\u9fff]{2,3}?)(?:同志)?"
    r"(?=[,，。;；、\s]|$|了|担任|任|负责|同志|电话|手机|(?:常务)?副?(?:局长|主任|处长|科长|书记))"
)
_SOURCES = (
    ("微博", "微博"),
    ("抖音", "抖音"),
    ("快手", "快手"),
    ("小红书", "小红书"),
    ("今日头条", "今日头条"),
    ("头条", "今日头条"),
    ("贴吧", "百度贴吧"),
    ("视频号", "微信视频号"),
    ("公众号", "微信公众号"),
    ("朋友圈", "微信朋友圈"),
    ("微信群", "微信群"),
    ("12345", "12345热线"),
    ("留言板", "网络留言板"),
    ("论坛", "网络论坛"),
)
_ONLINE = ("网上", "网络", "网友", "网民", "网帖", "网传", "发帖", "热搜")
_WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
_PARTS_OF_DAY = (
    ("凌晨", "凌晨"),
    ("早上", "早上"),
    ("早晨", "早上"),
    ("清晨", "早上"),
    ("今早", "早上"),
    ("明早", "早上"),
    ("上午", "上午"),
    ("中午", "中午"),
    ("下午", "下午"),
    ("午后", "下午"),
    ("傍晚", "傍晚"),
    ("晚上", "晚上"),
    ("晚间", "晚上"),
    ("夜里", "晚上"),
    ("夜间", "晚上"),
    ("今晚", "晚上"),
    ("明晚", "晚上"),
    ("昨晚", "晚上"),
    ("今夜", "晚上"),
    ("昨夜", "晚上"),
)


def _hits(word: str) -> tuple[tuple[str, float], ...]:
    """The keyword a word is, or ends with (业务培训 → 培训, 重大火灾 → 火灾)."""
    found = _KEYWORDS.get(word)
    if found is not None:
        return found
    for start in range(1, len(word) - 1):
        found = _KEYWORDS.get(word[start:])
        if found is not None:
            return found
    return ()


def _scores(words: Iterable[str], norm: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    for word in words:
        for intent, weight in _hits(word):
            scores[intent] = scores.get(intent, 0.0) + weight
    for intent, pattern, weight in _PATTERNS:
        if pattern.search(norm):
            scores[intent] = scores.get(intent, 0.0) + weight
    return scores


def _weight(word: str, intent: str) -> float:
    return sum(weight for name, weight in _hits(word) if name == intent)
