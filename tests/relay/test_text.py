"""Sentences and cuts: whole sentences first, then a semicolon, a comma, a word boundary."""

from __future__ import annotations

import pytest

from liuan_bot.relay import Composer
from liuan_bot.relay.text import clip, clip_sentence, ends_whole, normalise, sentences


def chars(text: str) -> list[str]:
    return list(text)


def test_sentences_end_at_sentence_ends_and_drop_bullets_and_headings() -> None:
    text = (
        "一、收购时间\n"
        "1. 今年秋粮收购从10月1日开始。至2027年3月31日结束！是否延期？\n"
        "（二）资金保障\n"
        "安排资金1.2亿元，不打白条\n"
        "② 详见 https://www.luan.gov.cn/a?id=3 。The summary is online.下一句"
    )
    assert sentences(text) == [
        ("今年秋粮收购从10月1日开始。", 0),
        ("至2027年3月31日结束！", 0),
        ("是否延期？", 0),
        ("安排资金1.2亿元，不打白条。", 1),
        ("详见 https://www.luan.gov.cn/a?id=3 。", 2),
        ("The summary is online.", 2),
        ("下一句。", 2),
    ]


def test_a_heading_alone_is_still_a_sentence_and_a_semicolon_at_the_end_becomes_a_stop() -> None:
    assert sentences("一、收购时间") == [("收购时间。", 0)]
    assert sentences("粳稻最低收购价为每斤1.31元；") == [("粳稻最低收购价为每斤1.31元。", 0)]
    assert sentences("") == []
    assert sentences("1.\n。。。") == []


def test_normalise_makes_punctuation_next_to_chinese_full_width() -> None:
    assert normalise("收购价1.26元,与去年持平;详见:网站 \r\n下一行") == (
        "收购价1.26元，与去年持平；详见：网站\n下一行"
    )


def test_ends_whole() -> None:
    for text in ("结束。", "结束！”", "结束；", "是否？", "被删……", "It ends."):
        assert ends_whole(text), text
    for text in ("结束，", "网点186个", "1.", "“结束"):
        assert not ends_whole(text), text


def test_clip_keeps_whole_leading_sentences() -> None:
    text = "第一句话很短。第二句话也不长。第三句话。"
    assert clip(text, 100, chars) == text
    assert clip(text, 15, chars) == "第一句话很短。第二句话也不长。"
    assert clip(text, 10, chars) == "第一句话很短。"


def test_clip_cuts_a_sentence_at_a_semicolon_then_a_comma() -> None:
    sentence = "中晚籼稻最低收购价为每斤1.26元，与去年持平；粳稻最低收购价为每斤1.31元。"
    assert clip_sentence(sentence, 30, chars) == "中晚籼稻最低收购价为每斤1.26元，与去年持平。"
    assert clip_sentence(sentence, 22, chars) == "中晚籼稻最低收购价为每斤1.26元……"
    assert clip(sentence, 22, chars) == "中晚籼稻最低收购价为每斤1.26元……"


def test_a_sentence_without_commas_is_cut_between_words(composer: Composer) -> None:
    sentence = "市财政局会同市发展改革委安排收购资金贷款贴息和仓储费用补助共计一亿二千万元"
    words = composer._ready().cut(sentence)
    boundaries = {sum(len(w) for w in words[:i]) for i in range(len(words) + 1)}
    for room in range(4, len(sentence)):
        cut = clip_sentence(sentence, room, composer._ready().cut)
        assert len(cut) <= room
        assert cut.endswith("……")
        assert len(cut) - 2 in boundaries, cut  # never inside a word


@pytest.mark.parametrize("room", [0, 1, 2, 3])
def test_tiny_rooms_never_overflow(room: int) -> None:
    assert len(clip_sentence("一句很长很长的话，还有逗号。", room, chars)) <= room
