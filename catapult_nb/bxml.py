"""BXML, read safely: the one parse of an untrusted Voice API v2 document, and its one error.

A BXML document comes from an application over the network (a webhook's answer, ``PUT …/bxml``, a
capture being imported, a document pasted for migration), so it is untrusted. :func:`read_bxml` refuses
it above :data:`MAX_BXML_BYTES` (64 KB, Bandwidth's own limit) before parsing starts and parses it with
:mod:`defusedxml` (no DTD, no entity expansion, no external entities); every fault is a
:class:`BxmlError`. What is then read from the element tree is the reader's own concern: the simulator
checks every verb and attribute (:mod:`catapult_nb.simulator.bxml`), the store records each
``<Gather>``'s options (:mod:`catapult_nb.store.bxml`), the migration compares a ``<Gather>`` with the v1
gather it replaces (:func:`catapult_nb.gather_port.from_bxml`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from catapult_nb.errors import Error

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

__all__ = ["MAX_BXML_BYTES", "BxmlError", "gather_elements", "read_bxml", "tag_name"]

#: The largest BXML document accepted, in bytes (Bandwidth's limit).
MAX_BXML_BYTES = 64 * 1024


class BxmlError(Error, ValueError):
    """A BXML document that cannot be read or run; the message names the verb, attribute and rule.

    :param verb: the verb (element) at fault, e.g. ``"Gather"``; ``""`` for the document as a whole.
    :param attribute: the attribute at fault, or ``""``.
    :param rule: what the rule is and what was found.
    """

    def __init__(self, verb: str, attribute: str, rule: str) -> None:
        self.verb = verb
        self.attribute = attribute
        self.rule = rule
        where = f"<{verb}>" if verb else "the document"
        if attribute:
            where += f" attribute {attribute}"
        super().__init__(f"Invalid BXML: {where}: {rule}")


def read_bxml(document: str | bytes, roots: tuple[str, ...] | None = None) -> ET.Element:
    """Parse one untrusted BXML document; returns its root element.

    :param document: the document as sent (bytes are read by the XML declaration's encoding, UTF-8 by
        default).
    :param roots: the root elements allowed (``("Response",)`` for a webhook's answer, ``("Bxml",)`` for
        ``PUT …/bxml``), or None for any.
    :raises BxmlError: over :data:`MAX_BXML_BYTES`, empty, not XML, XML with a DTD or entities, or a root
        element other than ``roots``.
    """
    # loaded on the first read, so the modules that only write BXML stay light
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    raw = document.encode("utf-8") if isinstance(document, str) else bytes(document)
    if len(raw) > MAX_BXML_BYTES:
        raise BxmlError("", "", f"a BXML document may be at most {MAX_BXML_BYTES} bytes, got {len(raw)}")
    if not raw.strip():
        answer = f"; answer with {_describe(roots)}…" if roots else ""
        raise BxmlError("", "", f"the document is empty{answer}")
    try:
        root: ET.Element = SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BxmlError(
            "", "", f"DTDs and entities are not allowed in BXML ({exc.__class__.__name__})"
        ) from None
    except SafeET.ParseError as exc:
        raise BxmlError("", "", f"malformed XML: {exc}") from None
    except (ValueError, LookupError) as exc:  # an unknown encoding named in the XML declaration
        raise BxmlError("", "", f"the document cannot be read: {exc}") from None
    if roots is not None and root.tag not in roots:
        name = tag_name(root.tag)
        raise BxmlError(name, "", f"the root element must be {_describe(roots)}, got <{name}>")
    return root


def tag_name(tag: Any) -> str:
    """An element's or attribute's name as a message shows it (``ns:Gather`` for ``{ns}Gather``)."""
    if not isinstance(tag, str):  # a comment or processing instruction never reaches here; be safe
        return "?"
    return tag.replace("{", "").replace("}", ":") if tag.startswith("{") else tag


def gather_elements(root: ET.Element) -> list[ET.Element]:
    """The ``<Gather>`` elements of a document, in order: the root itself when it is a lone ``<Gather>``."""
    return [root] if root.tag == "Gather" else list(root.iter("Gather"))


def _describe(roots: tuple[str, ...]) -> str:
    return " or ".join(f"<{r}>" for r in roots)
