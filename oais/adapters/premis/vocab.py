"""Names, vocabularies and identifier rules shared by the PREMIS writer, reader and validator.

Everything a premis.xml written by oais promises about its shape is spelled out here once, so that
the writer and the reader cannot drift apart. docs/premis.md explains the choices.
"""

from __future__ import annotations

from typing import cast

from lxml import etree

from oais.domain.fixity import DigestAlgorithm
from oais.domain.premis import AGENT_TYPE_AUTHORITY, EVENT_TYPE_AUTHORITY, AgentRole, AgentType

PREMIS_NS = "http://www.loc.gov/premis/v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
PREMIS_VERSION = "3.0"
#: Where the PREMIS 3.0 schema is published; written as a hint for readers, never fetched by oais.
SCHEMA_LOCATION = "http://www.loc.gov/standards/premis/v3/premis-v3-0.xsd"
SCHEMA_FILE = "premis-3.0.xsd"

NSMAP = {"premis": PREMIS_NS, "xsi": XSI_NS}
XSI_TYPE = f"{{{XSI_NS}}}type"
XSI_SCHEMA_LOCATION = f"{{{XSI_NS}}}schemaLocation"


def line_of(element: etree._Element) -> int | None:
    """The line an element starts on (lxml-stubs mistype ``sourceline``)."""
    return cast("int | None", element.sourceline)


def q(local: str) -> str:
    """The Clark name (``{namespace}local``) of a PREMIS element."""
    return f"{{{PREMIS_NS}}}{local}"


# Object categories, as xsi:type values (PREMIS 3 types the abstract <object> this way).
IE_TYPE = "intellectualEntity"
REPRESENTATION_TYPE = "representation"
FILE_TYPE = "file"

# significantPropertiesType values carrying the AIP facts that PREMIS has no element for.
PROP_TITLE = "title"
PROP_PRODUCER = "producer"
PROP_CREATED = "created"
PROP_VERSION = "version"

# Identifier types (objectIdentifierType and friends have no controlled vocabulary in PREMIS 3).
ID_LOCAL = "local"
ID_URN = "URN"
ID_URI = "URI"

#: Payload files live under this bag directory; a file's object identifier is its bag path.
PAYLOAD_PREFIX = "data/objects/"

VOCAB = "http://id.loc.gov/vocabulary/preservation"
RELATIONSHIP_TYPE_AUTHORITY = f"{VOCAB}/relationshipType"
RELATIONSHIP_SUBTYPE_AUTHORITY = f"{VOCAB}/relationshipSubType"
HASH_AUTHORITY = f"{VOCAB}/cryptographicHashFunctions"
OUTCOME_AUTHORITY = f"{VOCAB}/eventOutcome"
AGENT_ROLE_AUTHORITY = f"{VOCAB}/eventRelatedAgentRole"
FORMAT_REGISTRY_ROLE_AUTHORITY = f"{VOCAB}/formatRegistryRole"

STRUCTURAL = "structural"
INCLUDED_IN = "is included in"
REPRESENTS = "represents"
REPRESENTED_BY = "is represented by"
#: A migrated or normalised file names the file of the same version it was made from.
DERIVATION = "derivation"
HAS_SOURCE = "has source"

PRONOM = "PRONOM"
#: Registry name for the second <format> that carries the MIME type. There is no id.loc.gov term
#: for it; IANA keeps the media types registry, so that is the name a reader will recognise.
MIME_REGISTRY = "IANA media types"
REGISTRY_ROLE_SPECIFICATION = "specification"

# formatNote prefixes: the parts of FormatFacts that PREMIS has no element for.
NOTE_BASIS = "identification basis: "
NOTE_TOOL = "identification tool: "
NOTE_ISSUE = "issue "

#: Prefix of the second eventDetail, which names the policy the event applied.
POLICY_DETAIL = "policy: "

# Rights statements (written after the agents, one per fact: see docs/premis.md).
RIGHTS_BASIS_AUTHORITY = f"{VOCAB}/rightsBasis"
#: rightsBasis labels of the id.loc.gov vocabulary, with their codes.
RIGHTS_BASIS_LICENSE = "license"
RIGHTS_BASIS_OTHER = "other"
_RIGHTS_BASIS_CODES = {RIGHTS_BASIS_LICENSE: "lic", RIGHTS_BASIS_OTHER: "oth"}
#: otherRightsBasis of the access status (the archive's access policy applies it) and of a rights
#: statement in words. PREMIS leaves otherRightsBasis uncontrolled.
OTHER_BASIS_ACCESS = "access policy"
OTHER_BASIS_STATEMENT = "rights statement"
#: The act an access status governs. id.loc.gov deprecated its actionsGranted vocabulary in 2018
#: in favour of eventType, whose term for handing content out is "dissemination".
ACT_DISSEMINATION = "dissemination"
ACT_DISSEMINATION_URI = f"{EVENT_TYPE_AUTHORITY}/dis"
RESTRICTION_ALLOW = "Allow"
RESTRICTION_DISALLOW = "Disallow"
#: licenseDocumentationRole of the licence's address.
LICENSE_TEXT_ROLE = "license text"
#: licenseNote prefix of the licence's identifier (an SPDX identifier where there is one).
NOTE_LICENSE_ID = "license identifier: "
#: otherRightsNote prefix of the access status in words.
NOTE_ACCESS = "access status: "
#: Suffixes of the rights statement identifiers, after the AIP id.
RIGHTS_ID_LICENSE = "/rights/license"
RIGHTS_ID_ACCESS = "/rights/access"
RIGHTS_ID_STATEMENT = "/rights/statement-"


def rights_basis_attributes(basis: str) -> dict[str, str]:
    """Authority attributes for ``rightsBasis``."""
    return {
        "authority": "rightsBasis",
        "authorityURI": RIGHTS_BASIS_AUTHORITY,
        "valueURI": f"{RIGHTS_BASIS_AUTHORITY}/{_RIGHTS_BASIS_CODES[basis]}",
    }


def act_attributes() -> dict[str, str]:
    """Authority attributes for the ``act`` of an access status (eventType ``dissemination``)."""
    return {"authority": "eventType", "authorityURI": EVENT_TYPE_AUTHORITY, "valueURI": ACT_DISSEMINATION_URI}


#: id.loc.gov cryptographicHashFunctions codes. xxh3_128 is not in that vocabulary, so it gets
#: no authority and no value URI: claiming one would be false.
_HASH_CODES = {
    DigestAlgorithm.MD5: "md5",
    DigestAlgorithm.SHA1: "sha1",
    DigestAlgorithm.SHA224: "sha224",
    DigestAlgorithm.SHA256: "sha256",
    DigestAlgorithm.SHA384: "sha384",
    DigestAlgorithm.SHA512: "sha512",
}

_AGENT_TYPE_CODES = {
    AgentType.SOFTWARE: "sof",
    AgentType.PERSON: "per",
    AgentType.ORGANIZATION: "org",
    AgentType.HARDWARE: "har",
}

#: Roles that are terms of the id.loc.gov eventRelatedAgentRole vocabulary. "producer" is ours.
_LOC_AGENT_ROLES = frozenset(
    {AgentRole.EXECUTING_PROGRAM, AgentRole.IMPLEMENTER, AgentRole.AUTHORIZER, AgentRole.VALIDATOR}
)

_ALGORITHMS_BY_PREMIS_NAME = {algorithm.premis_name: algorithm for algorithm in DigestAlgorithm}


def hash_attributes(algorithm: DigestAlgorithm) -> dict[str, str]:
    """Authority attributes for ``messageDigestAlgorithm`` (empty for algorithms outside LoC's list)."""
    code = _HASH_CODES.get(algorithm)
    if code is None:
        return {}
    return {
        "authority": "cryptographicHashFunctions",
        "authorityURI": HASH_AUTHORITY,
        "valueURI": f"{HASH_AUTHORITY}/{code}",
    }


def algorithm_from_premis_name(name: str) -> DigestAlgorithm | None:
    """The algorithm a ``messageDigestAlgorithm`` names, or None if oais does not know it."""
    return _ALGORITHMS_BY_PREMIS_NAME.get(name)


def event_type_attributes(uri: str) -> dict[str, str]:
    """Authority attributes for ``eventType``."""
    return {"authority": "eventType", "authorityURI": EVENT_TYPE_AUTHORITY, "valueURI": uri}


def agent_type_attributes(agent_type: AgentType) -> dict[str, str]:
    """Authority attributes for ``agentType``."""
    return {
        "authority": "agentType",
        "authorityURI": AGENT_TYPE_AUTHORITY,
        "valueURI": f"{AGENT_TYPE_AUTHORITY}/{_AGENT_TYPE_CODES[agent_type]}",
    }


def agent_role_attributes(role: AgentRole) -> dict[str, str]:
    """Authority attributes for ``linkingAgentRole`` (empty for roles outside LoC's list)."""
    if role not in _LOC_AGENT_ROLES:
        return {}
    return {"authority": "eventRelatedAgentRole", "authorityURI": AGENT_ROLE_AUTHORITY}


def identifier_type(value: str) -> str:
    """The identifier type written beside ``value``: URN, URI or local.

    PREMIS leaves identifier types uncontrolled; this rule keeps them truthful without asking
    callers: a ``urn:`` value is a URN, an http(s) address is a URI, anything else is local to
    this archive.
    """
    lowered = value.lower()
    if lowered.startswith("urn:"):
        return ID_URN
    if lowered.startswith(("http://", "https://")):
        return ID_URI
    return ID_LOCAL


def file_object_id(path: str) -> str:
    """The PREMIS object identifier of the payload file at SIP path ``path``: its bag path.

    Use it in ``Event.objects`` to link an event to one file. It equals ``FileEntry.bag_path``:
    a reader holding only the bag finds the file the identifier names without any lookup.
    """
    return f"{PAYLOAD_PREFIX}{path}"
