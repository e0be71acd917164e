"""The callback XML parser (`liuan_bot.wecom.xml_safety`): xmltodict's tree shape, built from
expat's events, with DTDs and entities refused (issue 8 item 6, issue 11 §2)."""

from __future__ import annotations

import random

import pytest
import xmltodict

from liuan_bot.wecom.inbound import parse_incoming
from liuan_bot.wecom.simulate import event_xml, text_message_xml
from liuan_bot.wecom.xml_safety import UnsafeXml, parse_tree, parse_xml

CARD_CLICK = (
    "<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[u1]]></FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[approve:1]]></EventKey>"
    "<TaskId><![CDATA[t-1]]></TaskId><CardType><![CDATA[vote_interaction]]></CardType>"
    "<ResponseCode><![CDATA[rc-1]]></ResponseCode><SelectedItems>"
    "<SelectedItem><QuestionKey><![CDATA[q1]]></QuestionKey>"
    "<OptionIds><OptionId><![CDATA[a]]></OptionId><OptionId><![CDATA[b]]></OptionId>"
    "</OptionIds></SelectedItem>"
    "<SelectedItem><QuestionKey><![CDATA[q2]]></QuestionKey>"
    "<OptionIds><OptionId><![CDATA[c]]></OptionId></OptionIds></SelectedItem>"
    "</SelectedItems><AgentID>1000002</AgentID></xml>"
)
ONE_SELECTION = (
    "<xml><MsgType>event</MsgType><SelectedItems><SelectedItem><QuestionKey>q</QuestionKey>"
    "<OptionIds><OptionId>only</OptionId></OptionIds></SelectedItem></SelectedItems></xml>"
)
SHAPES = [
    CARD_CLICK,
    ONE_SELECTION,
    text_message_xml(
        corp_id="ww1",
        from_user="zhangsan",
        content="舆情 <内容>：某地 & 某事 ]]> 结束",
        msg_id="123",
        create_time=1,
        agent_id=2,
    ),
    event_xml(corp_id="ww1", from_user="u", event="enter_agent", create_time=1, agent_id=2),
    "<xml><Encrypt><![CDATA[abc==]]></Encrypt><ToUserName>ww1</ToUserName></xml>",
    "<xml><Content>  padded  \n</Content><Empty></Empty><Blank>   </Blank><Self/></xml>",
    '<xml a="1"><B c="2">text</B><B>again</B><B><C>deep</C></B></xml>',
    "<xml>loose text<A>1</A> more</xml>",
    "<xml><A>x<![CDATA[y]]>z</A><A>1</A><A>2</A><A>3</A></xml>",
    "<?xml version='1.0' encoding='utf-8'?><!-- a note --><xml><A>1</A></xml>",
    "<xml/>",
    "<other><A>1</A></other>",
]


@pytest.mark.parametrize("document", SHAPES)
def test_the_tree_is_xmltodicts(document: str) -> None:
    expected = xmltodict.parse(document, force_list=("SelectedItem", "OptionId"))
    assert parse_tree(document, force_list={"SelectedItem", "OptionId"}) == expected
    assert parse_tree(document.encode()) == xmltodict.parse(document.encode())


def test_random_trees_are_xmltodicts() -> None:
    rng = random.Random(11)
    names = ["A", "B", "C", "SelectedItem", "OptionId"]

    def element(depth: int) -> str:
        name = rng.choice(names)
        attrs = f' k="{rng.randint(0, 9)}"' if rng.random() < 0.2 else ""
        if depth > 3 or rng.random() < 0.4:
            body = rng.choice(["", " ", "文本", "<![CDATA[ x ]]>", "a&amp;b", "&lt;"])
        else:
            body = "".join(element(depth + 1) for _ in range(rng.randint(0, 4)))
            body += rng.choice(["", "", "t"])
        return f"<{name}{attrs}>{body}</{name}>"

    for _ in range(300):
        document = "<xml>" + "".join(element(1) for _ in range(rng.randint(0, 5))) + "</xml>"
        force = {"SelectedItem", "OptionId"} if rng.random() < 0.5 else set()
        assert parse_tree(document, force) == xmltodict.parse(document, force_list=tuple(force))


def test_a_card_click_keeps_every_selection() -> None:
    incoming = parse_incoming(CARD_CLICK)
    assert incoming.event == "template_card_event"
    assert parse_xml(ONE_SELECTION, force_list={"SelectedItem", "OptionId"})["SelectedItems"] == {
        "SelectedItem": [{"QuestionKey": "q", "OptionIds": {"OptionId": ["only"]}}]
    }


@pytest.mark.parametrize(
    "document",
    [
        b'<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>',
        b'<!doctype x SYSTEM "file:///etc/passwd"><xml><A>1</A></xml>',
        b"<xml><A>&undefined;</A></xml>",
        b"<xml><A>1</A>",
        b"<xml><A>1</A></xml><xml/>",
        b"\xff\xfe<xml/>",
        b"",
        b"not xml",
    ],
)
def test_unsafe_or_malformed_xml_is_refused(document: bytes) -> None:
    with pytest.raises(UnsafeXml):
        parse_xml(document)


def test_a_document_that_is_not_rooted_in_xml_is_refused() -> None:
    with pytest.raises(UnsafeXml, match="no <xml> root"):
        parse_xml("<other><A>1</A></other>")
    with pytest.raises(UnsafeXml, match="no <xml> root"):
        parse_xml("<xml>just text</xml>")
