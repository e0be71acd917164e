"""Suggestions for free text that is not a command (issue 3).

A corpus of messages as spokespersons type them on phones, with the command and the fields
the bot should suggest. Every suggested message must parse back, with the bot's real grammar,
to the same command and to fields without errors (placeholders aside). Grow the corpus
whenever a message gets a poor suggestion.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.registry import build_registry
from liuan_bot.clock import SHANGHAI
from liuan_bot.commands import suggest
from liuan_bot.commands.fields import parse_fields
from liuan_bot.commands.grammar import normalise
from liuan_bot.commands.suggest import (
    DEFAULT_DICT_PATH,
    DEFAULT_STOPWORDS_PATH,
    PLACEHOLDER,
    Suggester,
    Suggestion,
)
from liuan_bot.commands.timeparse import parse_time

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)  # a Thursday
REGISTRY = build_registry()
WORDS = {
    "apply": "申请发布会",
    "file": "备案",
    "incident": "突发",
    "hot_issue": "舆情",
    "policy": "政策",
    "risk": "风险评估",
    "roster": "报送发言人",
    "training": "培训",
    "status": "我的",
    "detail": "详情",
}

# (message, command key, extracted fields)
CASES: list[tuple[str, str, dict[str, str]]] = [
    # conferences: 申请发布会
    (
        "我们下周三想开个发布会讲讲秋粮收购",
        "apply",
        {"主题": "秋粮收购", "时间": "12月2日（周三）"},
    ),
    (
        "@小助手 我们下周三想开个发布会讲讲秋粮收购",
        "apply",
        {"主题": "秋粮收购", "时间": "12月2日（周三）"},
    ),
    (
        "12月3日上午10点市农业农村局想申请召开新闻发布会发布营商环境政策",
        "apply",
        {"主题": "营商环境政策", "时间": "12月3日（周四）10:00"},
    ),
    (
        "下周三（12月2日）上午9点半，想在市政府新闻发布厅开个发布会，介绍2026年秋粮收购政策",
        "apply",
        {"主题": "2026年秋粮收购政策", "时间": "12月2日（周三）09:30", "地点": "市政府新闻发布厅"},
    ),
    (
        "下周五上午在市政府新闻发布厅开个新闻发布会，主题是营商环境优化提升，需要直播",
        "apply",
        {
            "主题": "营商环境优化提升",
            "时间": "12月4日（周五）上午",
            "地点": "市政府新闻发布厅",
            "直播": "是",
        },
    ),
    (
        "想跟新闻办申请一场发布会，12月8日下午，介绍我市就业创业扶持政策～",
        "apply",
        {"主题": "我市就业创业扶持政策", "时间": "12月8日（周二）下午"},
    ),
    (
        "领导好，我们局打算下周四在六安宾馆办个新闻发布会，谈谈住房公积金新政，要不要直播？",
        "apply",
        {"主题": "住房公积金新政", "时间": "12月3日（周四）", "地点": "六安宾馆"},
    ),
    (
        "后天上午10:00-11:30 在六安宾馆三楼会议室开个新闻发布会，发布人王局长，讲营商环境",
        "apply",
        {"主题": "营商环境", "时间": "11月28日（周六）10:00", "地点": "六安宾馆三楼会议室"},
    ),
    (
        "下周二上午十点召开营商环境新闻发布会",
        "apply",
        {"主题": "营商环境", "时间": "12月1日（周二）10:00"},
    ),
    (
        "我们准备出台《六安市电动自行车管理办法》，想同时开个政策吹风会",
        "apply",
        {"主题": "六安市电动自行车管理办法", "类型": "吹风会"},
    ),
    (
        "明天下午开个吹风会，不直播",
        "apply",
        {"时间": "11月27日（周五）下午", "类型": "吹风会", "直播": "否"},
    ),
    ("TF-2026-0003那个事故要开发布会回应一下", "apply", {"事件": "TF-2026-0003"}),
    ("发布会怎么申请？", "apply", {}),
    # self-held conferences: 备案
    (
        "明天下午三点我们自己在局里开个吹风会",
        "file",
        {"时间": "11月27日（周五）15:00", "类型": "吹风会"},
    ),
    (
        "１２月５日下午２点 我们局自办一场新闻发布会 主题：冬季森林防火",
        "file",
        {"主题": "冬季森林防火", "时间": "12月5日（周六）14:00"},
    ),
    (
        "防汛形势严峻，下周一下午两点半在局三楼会议室自己开个吹风会通报汛情",
        "file",
        {
            "主题": "汛情",
            "时间": "11月30日（周一）14:30",
            "地点": "局三楼会议室",
            "类型": "吹风会",
        },
    ),
    # incidents: 突发
    (
        "昨晚金安区一家化工厂发生火灾，需要发布信息",
        "incident",
        {"事件": "金安区一家化工厂发生火灾", "发生时间": "11月25日（周三）晚上"},
    ),
    (
        "刚才霍山县境内发生山体滑坡，有人员被困",
        "incident",
        {"事件": "霍山县境内发生山体滑坡，有人员被困", "发生时间": "11月26日（周四）10:00"},
    ),
    (
        "今天上午裕安区发生一起重大交通事故，3人死亡",
        "incident",
        {
            "事件": "裕安区发生一起重大交通事故，3人死亡",
            "级别": "重大",
            "发生时间": "11月26日（周四）上午",
        },
    ),
    (
        "紧急！金寨县天堂寨景区发生游客坠崖事故",
        "incident",
        {"事件": "金寨县天堂寨景区发生游客坠崖事故"},
    ),
    (
        "报告：今天凌晨5点淠河水位超警戒，出现管涌险情",
        "incident",
        {"事件": "淠河水位超警戒，出现管涌险情", "发生时间": "11月26日（周四）05:00"},
    ),
    (
        "金安区 今天早上 一辆大货车侧翻，2人受伤!!",
        "incident",
        {"事件": "金安区一辆大货车侧翻，2人受伤", "发生时间": "11月26日（周四）早上"},
    ),
    (
        "霍邱县发生较大汛情，城西湖水位持续上涨",
        "incident",
        {"事件": "霍邱县发生较大汛情，城西湖水位持续上涨", "级别": "较大"},
    ),
    # hot issues: 舆情
    (
        "网上有人在传我们局乱收费",
        "hot_issue",
        {"内容": "网上有人在传我们局乱收费", "来源": "网络"},
    ),
    (
        "抖音上有个视频说我们县医院收红包，转发很多，需要回应吗",
        "hot_issue",
        {"内容": "抖音上有个视频说我们县医院收红包，转发很多", "来源": "抖音"},
    ),
    (
        "有网友在微博发帖说舒城县中学食堂饭菜有问题 https://weibo.com/123",
        "hot_issue",
        {
            "内容": "有网友在微博发帖说舒城县中学食堂饭菜有问题",
            "来源": "微博",
            "链接": "https://weibo.com/123",
        },
    ),
    (
        "网传霍邱县一小学发生食物中毒，家长在微信群里议论很多",
        "hot_issue",
        {"内容": "网传霍邱县一小学发生食物中毒，家长在微信群里议论很多", "来源": "微信群"},
    ),
    # policies: 政策
    ("下个月要出台一个医保新政策", "policy", {"标题": "医保新政策"}),
    (
        "12月10日要印发《六安市促进民营经济发展若干措施》",
        "policy",
        {"标题": "六安市促进民营经济发展若干措施", "公布时间": "12月10日（周四）"},
    ),
    (
        "市医保局准备12月15日印发城乡居民医保实施细则，同步做好政策解读",
        "policy",
        {"标题": "城乡居民医保实施细则", "公布时间": "12月15日（周二）"},
    ),
    # risk assessments, spokespersons, training, own records
    ("下个月要搞老旧小区改造，需要做个风险评估", "risk", {"事项": "老旧小区改造"}),
    ("城区拆迁可能引发信访，要做社会稳定风险评估", "risk", {"事项": "城区拆迁"}),
    (
        "春节期间要在万佛湖搞灯会，属于重大活动，风险等级中，想函告一下",
        "risk",
        {"事项": "灯会", "类型": "重大活动", "等级": "中"},
    ),
    (
        "我们局下周要出台新的收费标准，属于重大政策，存在高风险，需要做风险评估",
        "risk",
        {"事项": "新的收费标准", "类型": "重大政策", "等级": "高"},
    ),
    ("明年1月起施行医保新政", "policy", {"标题": "医保新政"}),
    (
        "我们局新闻发言人换成张三了，副局长，电话13912345678",
        "roster",
        {"姓名": "张三", "职务": "副局长", "手机": "13912345678"},
    ),
    (
        "联络员换人了，改为李明，办公室主任，手机18655558888",
        "roster",
        {"姓名": "李明", "职务": "办公室主任", "手机": "18655558888"},
    ),
    ("发言人名单要报送了吗", "roster", {}),
    ("我们单位下个月要参加新闻发言人培训", "training", {"课程": "新闻发言人培训"}),
    (
        "王琳上周三参加了新闻发言人业务培训",
        "training",
        {"日期": "11月18日（周三）", "课程": "新闻发言人业务培训"},
    ),
    ("我们申请的发布会批下来没？", "status", {}),
    ("请问怎么查询我们的申请进度", "status", {}),
    ("SQ-2026-0012批了没有", "detail", {"编号": "SQ-2026-0012"}),
    ("新闻办：下周能不能安排一场医保发布会？", "apply", {"主题": "医保"}),
    (
        "刚刚接到通知，万佛湖景区有游客溺水，正在搜救",
        "incident",
        {"事件": "万佛湖景区有游客溺水，正在搜救", "发生时间": "11月26日（周四）10:00"},
    ),
    (
        "能不能帮忙报一下我们局的发言人：张伟，副局长，13812345678",
        "roster",
        {"姓名": "张伟", "职务": "副局长", "手机": "13812345678"},
    ),
]

NOTHING = [
    "你好",
    "谢谢",
    "收到，谢谢！",
    "好的收到",
    "明天开会",
    "在吗？",
    "👍",
    "ok",
    "  ",
    "",
    "请把材料发我一下",
    "明天上午召开安全生产工作会议",  # a work meeting, not a press conference
    "发布会的稿子写好了",  # mentioned, not asked for
    "上周的发布会开得很成功",  # already held
    "下周三",
]

# Pieces of the corpus, times, ids and punctuation, for messages nobody has typed yet.
FRAGMENTS = sorted(
    {text[i : i + 3] for text, _, _ in CASES for i in range(0, len(text), 3)}
    | {"，", "。", " ", "\n", "：", "明天下午3点", "下周三", "3点", "SQ-2026-0012", "TF3"}
    | {"https://a.cn/1.", "《办法》", "主题是", "发布人：", "不直播", "重大", "高风险"}
)


@pytest.fixture(scope="module")
def suggester() -> Suggester:
    """Loaded once for the module: loading jieba costs 0.5–1.5 s."""
    loaded = Suggester(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH, REGISTRY)
    loaded.load()
    return loaded


def _errors_beyond_placeholders(got: Suggestion, errors: list[str]) -> list[str]:
    """Parse errors, less those about the placeholders left for the sender to fill in."""
    placeholders = {
        line.split("：")[0] for line in got.message.splitlines() if "：（请填写" in line
    }
    return [error for error in errors if error.split("：")[0] not in placeholders]


def _suggest(suggester: Suggester, text: str) -> Suggestion:
    got = suggester.suggest(text, NOW)
    assert got is not None, text
    return got


@pytest.mark.parametrize(("text", "key", "fields"), CASES, ids=[case[0][:16] for case in CASES])
def test_free_text_gets_the_command_it_means(
    suggester: Suggester, text: str, key: str, fields: dict[str, str]
) -> None:
    got = _suggest(suggester, text)
    assert (got.key, got.fields) == (key, fields)
    assert got.command == WORDS[key]
    assert got.reason.startswith("看起来您")


@pytest.mark.parametrize(("text", "key", "fields"), CASES, ids=[case[0][:16] for case in CASES])
def test_the_message_parses_back_to_the_same_command(
    suggester: Suggester, text: str, key: str, fields: dict[str, str]
) -> None:
    got = _suggest(suggester, text)
    registered = {word for spec in REGISTRY.specs for word in spec.words}
    if got.command not in registered:
        pytest.skip(f"command {got.command} is not registered yet")
    match = REGISTRY.match(got.message)
    assert match is not None
    assert (match.spec.key, match.spec.name) == (got.key, got.command)
    parsed = parse_fields(match.rest, match.spec.grammar, NOW)
    assert _errors_beyond_placeholders(got, parsed.errors) == []
    assert parsed.missing == []  # every required field is filled in or a placeholder
    known = {spec.name for spec in match.spec.grammar.fields}
    for name, value in got.fields.items():
        if name in known:
            assert parsed.raw[name] == normalise(value)
    if parsed.record_id is not None:
        assert got.fields.get("编号") == parsed.record_id


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join))
def test_any_message_gets_none_or_a_suggestion_that_parses_back(
    suggester: Suggester, text: str
) -> None:
    got = suggester.suggest(text, NOW)
    if got is None:
        return
    match = REGISTRY.match(got.message)
    assert match is not None, got.message
    assert match.spec.key == got.key
    parsed = parse_fields(match.rest, match.spec.grammar, NOW)
    assert _errors_beyond_placeholders(got, parsed.errors) == [], got.message
    assert parsed.missing == []
    assert "发布人" not in got.fields


def test_the_message_is_the_command_word_then_one_field_a_line(suggester: Suggester) -> None:
    got = _suggest(suggester, "我们下周三想开个发布会讲讲秋粮收购")
    assert got.message == "申请发布会\n主题：秋粮收购\n时间：12月2日（周三）\n发布人：（请填写）"
    assert got.reason == "看起来您想申请召开发布会"
    filed = _suggest(suggester, "明天下午三点我们自己在局里开个吹风会")
    assert filed.message == (
        "备案\n主题：（请填写）\n时间：11月27日（周五）15:00\n地点：（请填写）\n"
        "发布人：（请填写）\n类型：吹风会"
    )


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        (
            "我们下周三想开个发布会讲讲秋粮收购",
            "时间",
            datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI),
        ),
        (
            "明天下午三点我们自己在局里开个吹风会",
            "时间",
            datetime(2026, 11, 27, 15, 0, tzinfo=SHANGHAI),
        ),
        (
            "昨晚金安区一家化工厂发生火灾，需要发布信息",
            "发生时间",
            datetime(2026, 11, 25, 19, 0, tzinfo=SHANGHAI),
        ),
        (
            "刚才霍山县境内发生山体滑坡，有人员被困",
            "发生时间",
            datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI),
        ),
        (
            "12月10日要印发《六安市促进民营经济发展若干措施》",
            "公布时间",
            datetime(2026, 12, 10, 9, 0, tzinfo=SHANGHAI),
        ),
    ],
)
def test_the_time_written_back_means_the_same_time(
    suggester: Suggester, text: str, field: str, expected: datetime
) -> None:
    got = _suggest(suggester, text)
    prefer = "past" if field == "发生时间" else "future"
    assert parse_time(got.fields[field], NOW, prefer=prefer).at == expected


def test_an_unreadable_time_is_left_out_and_asked_about(suggester: Suggester) -> None:
    got = _suggest(suggester, "明天3点开个发布会讲讲医保")
    assert got.fields == {"主题": "医保"}
    assert "时间：（请填写）" in got.message
    assert "是指上午3:00还是下午15:00？" in got.reason
    past = _suggest(suggester, "今天上午9点开个发布会")
    assert past.fields == {}  # neither the time nor "今天上午" as a topic
    assert "这个时间已经过去了" in past.reason


def test_a_vague_time_is_pointed_out(suggester: Suggester) -> None:
    got = _suggest(suggester, "下个月要出台一个医保新政策")
    assert "“下个月”不够具体" in got.reason
    assert "公布时间：（请填写）" in got.message


@pytest.mark.parametrize("text", NOTHING)
def test_small_talk_gets_no_suggestion(suggester: Suggester, text: str) -> None:
    assert suggester.suggest(text, NOW) is None


def test_no_name_is_ever_made_up_for_the_speakers(suggester: Suggester) -> None:
    for text, _, _ in CASES:
        got = _suggest(suggester, text)
        assert "发布人" not in got.fields
        if got.key in ("apply", "file"):
            assert f"发布人：{PLACEHOLDER}" in got.message


def test_the_domain_words_stay_whole(suggester: Suggester) -> None:
    lines = DEFAULT_DICT_PATH.read_text(encoding="utf-8").splitlines()
    entries = [line.split(" ") for line in lines if line.strip()]
    assert len(entries) >= 80
    assert all(len(e) == 3 and e[1].isdigit() and e[2].isalpha() for e in entries), entries
    words = [e[0] for e in entries]
    assert len(set(words)) == len(words)
    tokenizer = suggester._tokenizer  # the loaded tokenizer, to check the dictionary's effect
    assert tokenizer is not None
    split = [word for word in words if tokenizer.lcut(word) != [word]]
    assert split == []
    assert tokenizer.lcut("开个新闻发布会") == ["开个", "新闻发布会"]


def test_the_stop_words_are_one_a_line() -> None:
    lines = DEFAULT_STOPWORDS_PATH.read_text(encoding="utf-8").splitlines()
    words = [line for line in lines if line and not line.startswith("#")]
    assert len(words) >= 100
    assert all(word == word.strip() and " " not in word for word in words)
    assert len(set(words)) == len(words)


def test_load_builds_the_tokenizer_once_even_when_raced(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    class Fake:
        def lcut(self, sentence: str, cut_all: bool = False, HMM: bool = True) -> list[str]:
            return list(sentence)

    def slow_build(path: Path) -> Fake:
        calls.append(path)
        time.sleep(0.05)
        return Fake()

    monkeypatch.setattr(suggest, "_build_tokenizer", slow_build)
    fresh = Suggester(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH, REGISTRY)
    assert not fresh.loaded
    threads = [threading.Thread(target=fresh.load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fresh.load()
    assert calls == [DEFAULT_DICT_PATH]
    assert fresh.loaded


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_importing_and_constructing_does_not_import_jieba() -> None:
    result = _python(
        "import sys\n"
        "from liuan_bot.commands.suggest import DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH, "
        "Suggester\n"
        "from handlers.registry import build_registry\n"
        "Suggester(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH, build_registry())\n"
        "print('jieba' in sys.modules)\n"
    )
    assert (result.stdout, result.stderr) == ("False\n", "")


def test_loading_is_silent_and_warning_free_under_strict_warnings() -> None:
    # -X dev turns ResourceWarning on; -W error makes any warning fatal; stderr must stay
    # empty: no jieba log lines, no "Exception ignored" for files left to the GC.
    result = _python(
        "import gc, sys\n"
        "from datetime import datetime\n"
        "from liuan_bot.clock import SHANGHAI\n"
        "from liuan_bot.commands.suggest import DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH, "
        "Suggester\n"
        "from handlers.registry import build_registry\n"
        "s = Suggester(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH, build_registry())\n"
        "now = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)\n"
        "print(s.suggest('我们下周三想开个发布会讲讲秋粮收购', now).key, s.loaded)\n"
        "print('jieba' in sys.modules)\n"
        "gc.collect()\n"
    )
    assert (result.stdout, result.stderr) == ("apply True\nTrue\n", "")


# --- issue 9 E3: greetings and thanks, count questions, self-held conferences ---------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好", suggest.GREETING_REPLY),
        ("您好！", suggest.GREETING_REPLY),
        ("老师好", suggest.GREETING_REPLY),
        ("在吗？", suggest.GREETING_REPLY),
        ("谢谢", suggest.THANKS_REPLY),
        ("谢谢你们！", suggest.THANKS_REPLY),
        ("辛苦了", suggest.THANKS_REPLY),
        ("好的，谢谢", suggest.THANKS_REPLY),
        ("你好，辛苦了", suggest.THANKS_REPLY),
    ],
)
def test_e3_greetings_and_thanks_get_a_short_polite_answer(text: str, expected: str) -> None:
    assert suggest.small_talk(text) == expected


@pytest.mark.parametrize(
    "text", ["你好，我想开个发布会", "谢谢你们帮我们审核SQ12", "好的", "收到", "早点开会"]
)
def test_e3_a_message_with_more_than_courtesy_is_no_small_talk(text: str) -> None:
    assert suggest.small_talk(text) is None


@pytest.mark.parametrize(
    "text",
    ["我们单位这季度开了几场？", "今年开了多少场发布会了", "我们还差几场发布会", "我们达标了吗"],
)
def test_e3_a_question_about_counts_leads_to_status(suggester: Suggester, text: str) -> None:
    got = _suggest(suggester, text)
    assert (got.key, got.message) == ("status", "我的")
    assert got.reply.endswith("可以直接发送：\n\n我的")


@pytest.mark.parametrize(
    "text",
    ["我们局里开个发布会讲讲秋粮收购", "下周三局里开发布会", "我们自己开个发布会讲讲冬季供暖"],
)
def test_e3_a_conference_the_unit_holds_itself_is_filed(suggester: Suggester, text: str) -> None:
    assert _suggest(suggester, text).key == "file"


# --- issue 11 §5: the suggester's command table is derived from the grammar -------------------


def test_the_suggested_fields_follow_the_registered_grammar() -> None:
    from dataclasses import replace

    from liuan_bot.commands.fields import FieldSpec
    from liuan_bot.commands.registry import Registry

    specs = []
    for spec in REGISTRY.specs:
        if spec.key == "apply":  # a new required field, declared once, in the grammar
            extra = FieldSpec("联系人", required=True, example="王强")
            spec = replace(
                spec, grammar=replace(spec.grammar, fields=(*spec.grammar.fields, extra))
            )
        specs.append(spec)
    changed = Suggester(DEFAULT_DICT_PATH, DEFAULT_STOPWORDS_PATH, Registry(specs))
    got = changed.suggest("我们下周三想开个发布会讲讲秋粮收购", NOW)
    assert got is not None
    assert got.message.endswith("\n发布人：（请填写）\n联系人：（请填写）")
    table = suggest.command_table(REGISTRY)
    for key, command in table.items():
        grammar = REGISTRY.by_key(key).grammar
        assert command.word == REGISTRY.by_key(key).name
        names = [name for name, _ in command.fields]
        assert names == [f.name for f in grammar.fields if f.name in names]
        for name, required in command.fields:
            assert required == grammar.spec(name).required, (key, name)


def test_the_suggester_source_holds_no_copy_of_the_field_lists() -> None:
    source = (ROOT / "liuan_bot" / "commands" / "suggest.py").read_text(encoding="utf-8")
    assert '("主题", True)' not in source
    assert '("事件", True)' not in source
    assert "_CONFERENCE_FIELDS" not in source


def test_e4_an_id_with_em_dashes_in_free_text_is_found(suggester: Suggester) -> None:
    got = _suggest(suggester, "SQ—2026—0012 现在到哪一步了？")
    assert (got.key, got.message) == ("detail", "详情 SQ-2026-0012")
