"""The concept-extraction prompt, the JSON schema of its answer, and the answer's validation.

CLAVE (arXiv 2407.10725) has a large LLM turn each human-labelled sample into short,
scenario-independent *value concepts*; those concepts, carrying the sample's human label, are
what the small evaluator learns from. This module is the contract with that LLM: what it is
told (instruction, the value's definition, the human label, the text) and what it must answer
(``{"concepts": [...]}``, checked against :data:`CONCEPT_SCHEMA`). The schema is also sent as
``response_format``, which servers like llama.cpp enforce with a grammar; the answer is checked
again here because many endpoints only treat it as a hint.
"""

from __future__ import annotations

import json
import re
from typing import Any

from clave_lite.core.valuesystem import Value

PROMPT_VERSION = "clave-lite-concepts/1"
MAX_CONCEPTS = 3
MAX_CONCEPT_CHARS = 120

CONCEPT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "concepts": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_CONCEPTS,
            "items": {"type": "string", "minLength": 3, "maxLength": MAX_CONCEPT_CHARS},
        }
    },
    "required": ["concepts"],
    "additionalProperties": False,
}

INSTRUCTION = (
    "You are an expert in human values. A human annotator has read a text and labelled it "
    "against one value. Write value concepts for it: short, general, scenario-independent "
    "statements of the behaviour or attitude in the text that explain the human label. A "
    "concept names no person, place, product or detail of the scenario and makes sense without "
    "the text, like \"Advising against actions that intentionally harm others\" (not \"Bob tells "
    "the user not to rob the bank\"). Write each concept in English, in at most 15 words. "
    f"Answer with JSON only, in the form {{\"concepts\": [\"...\"]}}, with 1 to {MAX_CONCEPTS} concepts."
)

_RELATION = {"supports": "supports", "opposes": "opposes", "unrelated": "is unrelated to"}


def build_messages(value: Value, label: str, text: str, max_text_chars: int = 2000) -> list[dict[str, str]]:
    """The chat messages for one (text, value, human label) sample.

    The text is fenced so it reads as data, not as instructions, and cut to ``max_text_chars``
    (long news articles would otherwise overflow a small server's context).
    """
    if len(text) > max_text_chars:
        text = text[:max_text_chars] + " [...]"
    relation = _RELATION[label]
    user = (
        f"Value: {value.name}\n"
        f"Definition: {value.definition}\n"
        f"Human label: the text {relation} this value.\n\n"
        f"Text:\n<<<\n{text}\n>>>\n\n"
        f"Write 1 to {MAX_CONCEPTS} value concepts that explain why the text {relation} "
        f"{value.name}. JSON only."
    )
    return [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": user}]


def repair_messages(messages: list[dict[str, str]], bad_answer: str, reason: str) -> list[dict[str, str]]:
    """The conversation so far plus the rejected answer and what was wrong with it."""
    return [*messages,
            {"role": "assistant", "content": bad_answer[:1000]},
            {"role": "user", "content": f"That answer was rejected: {reason}. Answer again with JSON only, "
                                        f"exactly {{\"concepts\": [\"...\"]}} with 1 to {MAX_CONCEPTS} short "
                                        "general concepts."}]


class AnswerError(ValueError):
    """An LLM answer that is not valid concept JSON; the message says why (it goes into the repair prompt)."""


def schema_errors(instance: Any, schema: dict[str, Any], where: str = "$") -> list[str]:
    """Validate against the JSON-Schema subset :data:`CONCEPT_SCHEMA` uses.

    Supported keywords: type (object/array/string), properties, required,
    additionalProperties (false), items, minItems, maxItems, minLength, maxLength. A full
    validator (the ``jsonschema`` package) would be a runtime dependency for one fixed schema.
    """
    errors: list[str] = []
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(instance, dict):
            return [f"{where} must be an object"]
        props = schema.get("properties", {})
        errors += [f"{where}.{name} is missing" for name in schema.get("required", []) if name not in instance]
        if schema.get("additionalProperties") is False:
            errors += [f"{where}.{name} is not allowed" for name in instance if name not in props]
        for name, sub in props.items():
            if name in instance:
                errors += schema_errors(instance[name], sub, f"{where}.{name}")
    elif kind == "array":
        if not isinstance(instance, list):
            return [f"{where} must be an array"]
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{where} needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            errors.append(f"{where} has more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(instance):
                errors += schema_errors(item, schema["items"], f"{where}[{i}]")
    elif kind == "string":
        if not isinstance(instance, str):
            return [f"{where} must be a string"]
        if len(instance.strip()) < schema.get("minLength", 0):
            errors.append(f"{where} is shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(instance) > schema["maxLength"]:
            errors.append(f"{where} is longer than {schema['maxLength']} characters")
    return errors


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


_LIST_MARKER = re.compile(r"^(?:[-*\u2022]|\(?\d{1,2}[.):])\s+")


def normalize_concept(text: str) -> str:
    """One line, single spaces, no list marker ("1. ", "- "), wrapping quotes or trailing full
    stop: small models number their concepts, and "1. Patriotism" must still read as an echo."""
    text = " ".join(text.split()).strip().strip("\"'").strip()
    text = _LIST_MARKER.sub("", text).strip("\"'").strip()
    return text[:-1].rstrip() if text.endswith(".") else text


# Words of the prompt's own scaffolding that small models copy back as "concepts".
_PROMPT_WORDS = {"text", "human label", "label", "value", "value concept", "value concepts", "concept",
                 "concepts", "definition", "json"}
_PROMPT_PHRASES = ("this value means", "the text supports", "the text opposes", "the text is unrelated")


def is_echo(concept: str, value: Value) -> bool:
    """A "concept" that only repeats the value's name, an alias, words of its definition, or the
    prompt's own scaffolding ("Human label", "Text:", "the text supports this value").

    Small models do this a lot ("Security", "Safety" for Security); such rows teach the
    evaluator nothing about the text, so they are dropped, and an answer made only of them
    is rejected with a repair hint.
    """
    text = concept.casefold()
    names = {value.name.casefold(), *(a.casefold() for a in value.aliases)}
    definition = " ".join(value.definition.casefold().split())
    return (text in names or text.removesuffix(" value") in names or text in definition
            or text.rstrip(": ") in _PROMPT_WORDS or text.startswith(_PROMPT_PHRASES))


def parse_answer(content: str, value: Value | None = None) -> list[str]:
    """The concepts in an answer, normalized, de-duplicated and (given ``value``) without echoes
    of the value itself; or :class:`AnswerError` saying what is wrong."""
    fenced = _FENCE.match(content)  # tolerated: many chat models wrap JSON in a code fence
    text = fenced.group(1) if fenced else content.strip()
    if not text:
        raise AnswerError("the answer was empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnswerError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    problems = schema_errors(data, CONCEPT_SCHEMA)
    if problems:
        raise AnswerError("does not match the schema: " + "; ".join(problems[:3]))
    concepts: list[str] = []
    seen: set[str] = set()
    for raw in data["concepts"]:
        concept = normalize_concept(raw)
        if len(concept) >= 3 and concept.casefold() not in seen:
            seen.add(concept.casefold())
            concepts.append(concept)
    if not concepts:
        raise AnswerError("no usable concept (all empty or too short)")
    if value is not None:
        concepts = [c for c in concepts if not is_echo(c, value)]
        if not concepts:
            raise AnswerError(f"the concepts only repeat the value's name, its definition or the prompt's words; "
                              f"describe, in general terms, the behaviour in the text that relates to {value.name}")
    return concepts
