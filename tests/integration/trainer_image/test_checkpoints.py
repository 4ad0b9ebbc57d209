"""Checkpoint mirroring never uploads a pointer that names files Blob Storage does not have."""

from trainer_image.checkpoints import CheckpointSync


class SavesMidPass:
    """The real store; the first upload also lets 'TensorFlow' finish ckpt-3 locally, as happens mid-pass."""

    def __init__(self, store, local):
        self.store, self.local, self.fired = store, local, False

    def __getattr__(self, name):
        return getattr(self.store, name)

    def write(self, *args, **kwargs):
        if not self.fired:
            self.fired = True
            (self.local / "ckpt-3.index").write_bytes(b"i3")
            (self.local / "ckpt-3.data-00000-of-00001").write_bytes(b"d3")
            (self.local / "checkpoint").write_text('model_checkpoint_path: "ckpt-3"\n')
        return self.store.write(*args, **kwargs)


def test_the_pointer_uploaded_names_a_checkpoint_already_uploaded(blob_store, settings, tmp_path):
    local = tmp_path / "train"
    local.mkdir()
    (local / "ckpt-2.index").write_bytes(b"i2")
    (local / "ckpt-2.data-00000-of-00001").write_bytes(b"d2")
    (local / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n')
    container = settings.manifests_container
    blob_store.ensure_container(container)
    sync = CheckpointSync(SavesMidPass(blob_store, local), container, "run", local)
    sync.sync()
    remote = {b.name for b in blob_store.list(container, "run/")}
    pointer = blob_store.read(container, "run/checkpoint").data.decode()
    assert 'ckpt-2"' in pointer and "run/ckpt-2.index" in remote  # the pointer read before the pass
    sync.sync()  # the next pass takes ckpt-3 and only then its pointer
    assert 'ckpt-3"' in blob_store.read(container, "run/checkpoint").data.decode()
    assert "run/ckpt-3.index" in {b.name for b in blob_store.list(container, "run/")}
