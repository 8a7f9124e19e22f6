"""What the Unleash client API answers around the translation (`core.unleash`): the query
filters SDKs send to `/api/client/features` and `/api/client/delta`, and the delta shape.

- Filters (Unleash's): `project` (repeatable) keeps the features of those projects, `namePrefix`
  the features whose name starts with it, `tag` (repeatable, `type:value`) the features carrying
  any of those tags. trimtab tags have no type, so `simple:checkout` matches the tag `checkout`
  (and a tag spelled `simple:checkout` itself). Filters combine with AND; segments are kept
  whole (features refer to them by id).
- Delta (`unleash-client` with `mode: {type: "polling", format: "delta"}`): trimtab answers one
  `hydration` event holding the whole (filtered) state, numbered by the rule-set revision. The
  SDK replaces its state with a hydration, so this is always right, if not the smallest answer;
  an unchanged revision is a 304 on the ETag before any of this runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FeatureFilter", "FilterError", "delta_answer", "filter_features"]

MAX_FILTER_VALUES = 50
MAX_FILTER_TEXT = 200


class FilterError(ValueError):
    """A filter out of bounds."""


@dataclass(frozen=True, slots=True)
class FeatureFilter:
    """Unleash's feature filters; empty ones keep everything."""

    projects: tuple[str, ...] = ()
    name_prefix: str = ""
    tags: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, items: Sequence[tuple[str, str]]) -> FeatureFilter:
        """The filters in a query string's (name, value) pairs; other names are ignored.
        Raises FilterError past the bounds."""
        projects: list[str] = []
        tags: list[str] = []
        prefix = ""
        for name, value in items:
            if len(value) > MAX_FILTER_TEXT:
                raise FilterError(f"{name}: at most {MAX_FILTER_TEXT} characters")
            if name == "project" and value:
                projects.append(value)
            elif name == "tag" and value:
                tags.append(value)
            elif name == "namePrefix":
                prefix = value
        if len(projects) > MAX_FILTER_VALUES or len(tags) > MAX_FILTER_VALUES:
            raise FilterError(f"at most {MAX_FILTER_VALUES} project and tag filters")
        return cls(tuple(projects), prefix, tuple(tags))

    @property
    def empty(self) -> bool:
        return not (self.projects or self.name_prefix or self.tags)

    def keeps(self, feature: Mapping[str, Any], tags: Sequence[str]) -> bool:
        """Whether `feature` (with trimtab `tags`) passes every filter."""
        name = str(feature["name"])
        if self.projects and feature.get("project") not in self.projects:
            return False
        if not name.startswith(self.name_prefix):
            return False
        if self.tags:
            wanted = {tag for text in self.tags for tag in (text, text.partition(":")[2]) if tag}
            if wanted.isdisjoint(tags):
                return False
        return True


def filter_features(
    payload: Mapping[str, Any], wanted: FeatureFilter, tags: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """`payload` (a features answer) keeping the features `wanted` lets through."""
    features = [f for f in payload["features"] if wanted.keeps(f, tags.get(f["name"], ()))]
    return {**payload, "features": features}


def delta_answer(payload: Mapping[str, Any], revision: int) -> dict[str, Any]:
    """A features answer as Unleash's delta: one hydration event at `revision`."""
    event = {
        "eventId": revision,
        "type": "hydration",
        "features": payload["features"],
        "segments": payload["segments"],
    }
    return {"events": [event]}
