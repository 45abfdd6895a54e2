"""The BXML parser: what it reads, and every way a document is refused, with the verb, attribute and
rule named (the ``errorMessage`` of an ``invalid-bxml`` disconnect)."""

from __future__ import annotations

import pytest

import catapult_nb
from catapult_nb import bxml
from catapult_nb.gather_port import from_bxml
from catapult_nb.simulator.bxml import MAX_BXML_BYTES, BxmlError, parse_bxml
from catapult_nb.store import bxml as store_bxml


def test_a_document_becomes_its_verbs_with_parsed_attributes():
    verbs = parse_bxml(
        """<?xml version="1.0" encoding="UTF-8"?>
        <Response>
            <SpeakSentence voice="Kate">Hello, <say-as interpret-as="telephone">5551234</say-as>.
            </SpeakSentence>
            <Pause duration="1.5"/>
            <Gather gatherUrl="next" maxDigits="4" terminatingDigits="#" firstDigitTimeout="0"
                    repeatCount="2">
                <PlayAudio username="u" password="p">https://example.test/a.wav</PlayAudio>
            </Gather>
            <Transfer transferCallerId="+15551230000">
                <PhoneNumber tag="op">+15550100999</PhoneNumber>
            </Transfer>
            <Tag></Tag>
            <StartGather dtmfUrl="/dtmf" dtmfMethod="get"/>
            <StopGather/>
            <Redirect redirectUrl="https://app.test/next"/>
            <Hangup/>
        </Response>"""
    )
    assert [v.name for v in verbs] == [
        "SpeakSentence",
        "Pause",
        "Gather",
        "Transfer",
        "Tag",
        "StartGather",
        "StopGather",
        "Redirect",
        "Hangup",
    ]
    speak, pause, gather, transfer = verbs[:4]
    assert speak.text == "Hello, 5551234." and speak.attrs == {"voice": "kate"}
    assert pause.attrs == {"duration": 1.5}
    assert gather.get("gatherUrl") == "next" and gather.get("maxDigits") == "4"
    assert [c.name for c in gather.children] == ["PlayAudio"]
    assert gather.children[0].text == "https://example.test/a.wav"
    assert transfer.children[0].text == "+15550100999"
    assert verbs[5].attrs == {"dtmfUrl": "/dtmf", "dtmfMethod": "GET"}


def test_a_put_document_has_the_bxml_root():
    assert [v.name for v in parse_bxml("<Bxml><Hangup/></Bxml>", ("Bxml",))] == ["Hangup"]
    with pytest.raises(BxmlError, match="root element must be <Bxml>, got <Response>"):
        parse_bxml("<Response><Hangup/></Response>", ("Bxml",))


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Response><SpeakSentence>&lol2;</SpeakSentence></Response>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Response><SpeakSentence>&xxe;</SpeakSentence></Response>"""


@pytest.mark.parametrize(
    ("document", "verb", "attribute", "rule"),
    [
        ("", "", "", "the document is empty"),
        ("<Response><Hangup></Response>", "", "", "malformed XML: mismatched tag"),
        ("not xml at all", "", "", "malformed XML"),
        (BILLION_LAUGHS, "", "", "DTDs and entities are not allowed"),
        (EXTERNAL, "", "", "DTDs and entities are not allowed"),
        ("<Reply><Hangup/></Reply>", "Reply", "", "root element must be <Response>, got <Reply>"),
        ("<Response><Dance/></Response>", "Dance", "", "unknown verb <Dance> in <Response>"),
        ("<Response><Record/></Response>", "Record", "", "a BXML verb the simulator does not run"),
        (
            "<Response><Hangup when='now'/></Response>",
            "Hangup",
            "when",
            "unknown attribute; <Hangup> takes none",
        ),
        ("<Response><Gather maxDigits='60'/></Response>", "Gather", "maxDigits", "between 1 and 50, got 60"),
        ("<Response><Gather maxDigits='four'/></Response>", "Gather", "maxDigits", "whole number"),
        (
            "<Response><Gather interDigitTimeout='0'/></Response>",
            "Gather",
            "interDigitTimeout",
            "between 1 and 60",
        ),
        (
            "<Response><Gather firstDigitTimeout='61'/></Response>",
            "Gather",
            "firstDigitTimeout",
            "between 0 and 60",
        ),
        (
            "<Response><Gather terminatingDigits='#x'/></Response>",
            "Gather",
            "terminatingDigits",
            "0-9 * # A-D",
        ),
        (
            "<Response><Gather repeatCount='11'><SpeakSentence>a</SpeakSentence>"
            "<SpeakSentence>b</SpeakSentence></Gather></Response>",
            "Gather",
            "repeatCount",
            "at most 20",
        ),
        ("<Response><Gather gatherMethod='PUT'/></Response>", "Gather", "gatherMethod", "GET or POST"),
        (
            "<Response><Gather gatherUrl='ftp://x/y'/></Response>",
            "Gather",
            "gatherUrl",
            "http:// or https://",
        ),
        ("<Response><Gather input='voice'/></Response>", "Gather", "input", "dtmf, speech, dtmf_speech"),
        ("<Response><Gather><Hangup/></Gather></Response>", "Hangup", "", "may not be nested in <Gather>"),
        ("<Response><Gather>press one</Gather></Response>", "Gather", "", "holds verbs, not text"),
        (
            "<Response><PhoneNumber>+15550100999</PhoneNumber></Response>",
            "PhoneNumber",
            "",
            "may not be nested",
        ),
        ("<Response><Transfer/></Response>", "Transfer", "", "1 to 8 <PhoneNumber>"),
        (
            "<Response><Transfer><PhoneNumber>555</PhoneNumber></Transfer></Response>",
            "PhoneNumber",
            "",
            "E.164",
        ),
        ("<Response><SpeakSentence>  </SpeakSentence></Response>", "SpeakSentence", "", "may not be blank"),
        (
            "<Response><SpeakSentence voice='hal'>hi</SpeakSentence></Response>",
            "SpeakSentence",
            "voice",
            "one of",
        ),
        (
            "<Response><SpeakSentence>hi <Hangup/></SpeakSentence></Response>",
            "SpeakSentence",
            "",
            "holds SSML",
        ),
        ("<Response><PlayAudio></PlayAudio></Response>", "PlayAudio", "", "the audio URL must be a URL"),
        ("<Response><Pause duration='-1'/></Response>", "Pause", "duration", "number of seconds"),
        ("<Response><Pause duration='86401'/></Response>", "Pause", "duration", "between 0.1 and 86400"),
        ("<Response><Redirect/></Response>", "Redirect", "redirectUrl", "redirectUrl is required"),
        ("<Response><StartGather/></Response>", "StartGather", "dtmfUrl", "dtmfUrl is required"),
        ("<Response><Tag>" + "t" * 257 + "</Tag></Response>", "Tag", "", "at most 256 characters"),
        ("<Response><Gather tag='" + "t" * 257 + "'/></Response>", "Gather", "tag", "at most 256"),
        ("<Response>hello<Hangup/></Response>", "Response", "", "holds verbs, not text"),
        ("<Response version='2'/>", "Response", "version", "takes no attributes"),
        ('<Response xmlns:x="urn:x"><x:Hangup/></Response>', "urn:x:Hangup", "", "unknown verb"),
    ],
)
def test_a_bad_document_is_refused_naming_verb_attribute_and_rule(document, verb, attribute, rule):
    with pytest.raises(BxmlError) as caught:
        parse_bxml(document)
    error = caught.value
    assert (error.verb, error.attribute) == (verb, attribute)
    assert rule in str(error)
    assert str(error).startswith("Invalid BXML: " + (f"<{verb}>" if verb else "the document"))


def test_a_document_over_64_kb_is_refused_before_it_is_parsed():
    sentence = "<SpeakSentence>" + "a" * 1000 + "</SpeakSentence>"
    document = "<Response>" + sentence * 66 + "</Response>"
    assert len(document.encode()) > MAX_BXML_BYTES
    with pytest.raises(BxmlError, match=f"at most {MAX_BXML_BYTES} bytes, got {len(document)}"):
        parse_bxml(document)
    # just under the limit is read
    assert len(parse_bxml("<Response>" + sentence * 60 + "</Response>")) == 60


def test_the_one_error_and_limit_keep_their_old_names():
    assert BxmlError is bxml.BxmlError is store_bxml.BxmlError
    assert issubclass(BxmlError, catapult_nb.Error) and issubclass(BxmlError, ValueError)
    assert MAX_BXML_BYTES == store_bxml.MAX_DOCUMENT == bxml.MAX_BXML_BYTES == 64 * 1024


@pytest.mark.parametrize(
    ("document", "rule"),
    [
        (BILLION_LAUGHS, "DTDs and entities are not allowed in BXML (DTDForbidden)"),
        (EXTERNAL, "DTDs and entities are not allowed in BXML (DTDForbidden)"),
        ("<!DOCTYPE Response><Response><Gather/></Response>", "not allowed in BXML (DTDForbidden)"),
        ("<Response><Gather></Response>", "malformed XML: mismatched tag"),
        ("<Response>" + "<Gather/>" * 8000 + "</Response>", f"at most {MAX_BXML_BYTES} bytes, got 72021"),
        (" \n", "the document is empty"),
        ('<?xml version="1.0" encoding="klingon"?><Response/>', "the document cannot be read"),
    ],
)
def test_every_reader_refuses_an_unsafe_document_with_the_one_error(document, rule):
    # the simulator's strict reader, the store's lenient one and the migration's read it the same way
    for read in (parse_bxml, store_bxml.gathers_in, from_bxml):
        with pytest.raises(BxmlError) as caught:
            read(document)
        assert (caught.value.verb, caught.value.attribute) == ("", ""), read
        assert str(caught.value).startswith("Invalid BXML: the document: ") and rule in str(caught.value)


def test_the_lenient_readers_take_any_root_and_pass_over_other_verbs():
    document = '<Bxml><Record/><Gather maxDigits="2"/></Bxml>'
    assert store_bxml.gathers_in(document) == [{"dialect": "v2", "maxDigits": 2}]
    assert from_bxml(document).attributes == {"maxDigits": "2"}
    with pytest.raises(BxmlError, match="root element must be <Response>, got <Bxml>"):
        parse_bxml(document)


def test_too_many_elements_are_refused():
    with pytest.raises(BxmlError, match="at most 1000 elements"):
        parse_bxml("<Response>" + "<Pause/>" * 1001 + "</Response>")


def test_speech_attributes_are_accepted_and_kept():
    (gather,) = parse_bxml(
        "<Response><Gather input='dtmf_speech' hints='yes,no' language='en-US' speechModel='default' "
        "speechTimeout='3' profanityFilter='true' partialResultCallback='/partial'/></Response>"
    )
    assert gather.get("input") == "dtmf_speech" and gather.get("profanityFilter") is True
