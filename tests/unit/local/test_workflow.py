"""The local workflow runner's per-call handler environment."""

from __future__ import annotations


def test_a_handler_environment_writes_only_changed_keys_and_restores_every_key(monkeypatch) -> None:
    import os

    from pipeline.local import workflow

    monkeypatch.setenv("HLOAD_SAME", "x")
    monkeypatch.setenv("HLOAD_OTHER", "before")
    monkeypatch.delenv("HLOAD_NEW", raising=False)
    writes: list[str] = []
    environ_type = type(os.environ)
    original_setitem = environ_type.__setitem__

    def counting(self, key, value):
        writes.append(key)
        original_setitem(self, key, value)

    monkeypatch.setattr(environ_type, "__setitem__", counting)
    with workflow._patched_env({"HLOAD_SAME": "x", "HLOAD_OTHER": "during", "HLOAD_NEW": "n"}):
        assert (os.environ["HLOAD_SAME"], os.environ["HLOAD_OTHER"], os.environ["HLOAD_NEW"]) == ("x", "during", "n")
        assert "HLOAD_SAME" not in writes  # unchanged: not written
        os.environ["HLOAD_SAME"] = "changed by the handler"
    assert os.environ["HLOAD_SAME"] == "x" and os.environ["HLOAD_OTHER"] == "before"
    assert os.environ["HLOAD_NEW"] == ""  # never deleted (other threads iterate os.environ)
    monkeypatch.setattr(environ_type, "__setitem__", original_setitem)
