"""Lineage of a logical object and cell-level diffs between versions of a table."""

from __future__ import annotations

from tests.fixtures.backend import LiveBackend
from trevor_backend.services.lineage import table_diff


async def test_lineage_of_three_versions_and_chosen_pair(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    v1 = await alice.described_object(rid, b"region,f,m\nnorth,15,15\nsouth,3,20\n", "t.csv")
    v2 = (
        await alice.upload(
            rid, b"region,f,m\nnorth,15,15\nsouth,12,20\n", "t.csv", replaces=v1["id"]
        )
    ).json
    v3 = (
        await alice.upload(
            rid, b"region,f,m,x\nnorth,15,16\neast,1,1\n", "t.csv", replaces=v2["id"]
        )
    ).json
    path = f"/api/v1/requests/{rid}/objects/{v1['id']}/lineage"

    out = (await alice.get(path)).json
    assert out["logical_id"] == v1["logical_id"]
    assert [v["object"]["id"] for v in out["versions"]] == [v1["id"], v2["id"], v3["id"]]
    assert [v["object"]["state"] for v in out["versions"]] == [
        "superseded",
        "superseded",
        "pending",
    ]
    assert [(d["older"], d["newer"]) for d in out["diffs"]] == [
        (v1["id"], v2["id"]),
        (v2["id"], v3["id"]),
    ]
    first, second = out["diffs"]
    assert first["cells_changed"] == [{"row": "south", "column": "f", "old": "3", "new": "12"}]
    assert second["rows_added"] == ["east"] and second["rows_removed"] == ["south"]
    assert second["columns_added"] == ["x"] and second["columns_removed"] == []
    assert second["cells_changed"] == [{"row": "north", "column": "m", "old": "15", "new": "16"}]

    # One chosen pair, in either order.
    chosen = (await alice.get(f"{path}?diff={v3['id']},{v1['id']}")).json["diffs"]
    assert [(d["older"], d["newer"]) for d in chosen] == [(v1["id"], v3["id"])]

    other = await alice.described_object(rid, b"a\n1\n", "other.csv")
    for bad in ("x", f"{v1['id']},{v1['id']}", f"{v1['id']},{other['id']}", ","):
        reply = await alice.get(f"{path}?diff={bad}")
        assert reply.status == 422, bad
        assert reply.json["errors"][0]["pointer"] == "/diff"

    # Who may see it: the request's readers only.
    assert (await live.client("bob").get(path)).status == 404
    assert (await live.client("carol").get(path)).status == 404  # a draft
    assert (await live.client("root").get(path)).status == 200


async def test_non_tables_are_listed_not_diffed(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    v1 = await alice.described_object(rid, b"hello", "notes.txt")
    await alice.upload(rid, b"hello again", "notes.txt", replaces=v1["id"])
    out = (await alice.get(f"/api/v1/requests/{rid}/objects/{v1['id']}/lineage")).json
    assert len(out["versions"]) == 2
    (diff,) = out["diffs"]
    assert diff["comparable"] is False and diff["cells_changed"] == []


def test_rows_matched_by_position_when_the_first_column_repeats() -> None:
    old = b"g,n\na,1\na,2\n"
    new = b"g,n\na,1\na,5\nb,7\n"
    d = table_diff("o", old, "x.csv", "n", new, "x.csv")
    assert d.key == "position"
    assert [c.model_dump() for c in d.cells_changed] == [
        {"row": 1, "column": "n", "old": "2", "new": "5"}
    ]
    assert d.rows_added == [2]


def test_tsv_and_unreadable() -> None:
    d = table_diff("o", b"k\tv\nx\t1\n", "a.tsv", "n", b"k\tv\nx\t2\n", "a.tsv")
    assert d.key == "first_column" and d.cells_changed[0].new == "2"
    bad = table_diff("o", b"\xff\xfe\x00", "a.csv", "n", b"k,v\n", "a.csv")
    assert bad.comparable is False and bad.note
