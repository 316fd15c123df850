from __future__ import annotations

import uuid

import pytest

from vpipe_core.values.ids import uuid5_text

NAMES = ["", "7d2f4a90-1c3e-4b8a-9f61-2e5d8c0b7a13", "ü€ 😀", "t:https://x/y?a=1&b=2", "x" * 5000]


@pytest.mark.parametrize("namespace", [uuid.NAMESPACE_URL, uuid.uuid4(), uuid.UUID(int=0)])
def test_same_text_as_the_standard_library(namespace: uuid.UUID) -> None:
    names = NAMES + [f"trace-{number}" for number in range(2000)]
    for name in names:
        assert uuid5_text(namespace.bytes, name) == str(uuid.uuid5(namespace, name))
