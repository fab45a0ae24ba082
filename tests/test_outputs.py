"""Output protection (hf_mtl/outputs.py): writable locations, the lock, same-folder and earlier-run refusals, and
the Ctrl-C callback — without training anything."""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile

import pytest

from hf_mtl.workflow.run_folders import (
    LOCK_FILE,
    GracefulInterrupt,
    OutputError,
    OutputLock,
    check_writable_file,
    check_writable_folder,
    plan_training_output,
    refuse_existing_model,
    refuse_same_folder,
)


def test_a_folder_that_cannot_be_created_or_written_is_refused_without_creating_anything(tmp_path, monkeypatch):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    with pytest.raises(OutputError, match=r"output_dir .*notes.txt is a file; a folder is needed"):
        check_writable_folder(afile, what="output_dir")
    with pytest.raises(OutputError, match=r"notes.txt/run/a is under .*notes.txt, which is a file"):
        check_writable_folder(afile / "run" / "a", what="output_dir")
    assert check_writable_folder(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)  # root ignores chmod: simulate a read-only folder
    with pytest.raises(OutputError, match=r"output_dir .*/ro/run cannot be written: Permission denied \(.* is where"):
        check_writable_folder(tmp_path / "ro" / "run", what="output_dir")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot be written"):
            check_writable_folder(folder)
    finally:
        folder.chmod(0o700)


def test_output_file_checks(tmp_path):
    with pytest.raises(OutputError, match="is a folder; give a file name"):
        check_writable_file(tmp_path, what="--output")
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputError, match="is a file; a folder is needed"):
        check_writable_file(tmp_path / "f" / "out.jsonl", what="--output")
    assert check_writable_file(tmp_path / "missing" / "out.jsonl") == tmp_path / "missing" / "out.jsonl"


def test_same_folder_and_existing_model_are_refused(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    for target in (model, tmp_path / "x" / ".." / "model", str(model) + "/"):
        with pytest.raises(OutputError, match="is the model folder it reads"):
            refuse_same_folder(model, target, what="export's OUT")
    os.symlink(model, tmp_path / "link")
    with pytest.raises(OutputError, match="is the model folder it reads"):
        refuse_same_folder(model, tmp_path / "link")
    refuse_same_folder(model, tmp_path / "other")
    with pytest.raises(OutputError, match=r"already holds a model \(config.json\).*--overwrite"):
        refuse_existing_model(model, overwrite=False)
    refuse_existing_model(model, overwrite=True)
    refuse_existing_model(tmp_path / "other", overwrite=False)


def test_the_lock_keeps_a_second_run_out_and_is_released(tmp_path):
    folder = tmp_path / "a" / "run"
    with OutputLock(folder, command="hf-mtl train r.yaml") as lock:
        holder = json.loads(lock.path.read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(OutputError, match=rf"Another hf-mtl run is writing to .*run \(pid {os.getpid()} .*hf-mtl train r.yaml"):
            OutputLock(folder).acquire()
    assert not (folder / LOCK_FILE).exists()
    assert not (tmp_path / "a").exists()  # the folders it created are removed when nothing was written there
    with OutputLock(folder):
        (folder / "model.safetensors").write_text("x")
    assert folder.is_dir() and not (folder / LOCK_FILE).exists()


def test_a_stale_lock_is_explained_and_taken_over_and_a_foreign_one_refused(tmp_path, caplog):
    folder = tmp_path / "run"
    folder.mkdir()
    child = os.fork()
    if child == 0:  # a process that exits at once: its pid is then certainly not running
        os._exit(0)
    os.waitpid(child, 0)
    stale = {"pid": child, "host": socket.gethostname(), "started": "2026-01-01T00:00:00", "command": "hf-mtl train x"}
    (folder / LOCK_FILE).write_text(json.dumps(stale))
    with caplog.at_level("WARNING", logger="hf_mtl"), OutputLock(folder):
        assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert f"taking over the lock of a run that no longer runs (pid {child} on" in caplog.text

    (folder / LOCK_FILE).write_text(json.dumps({**stale, "host": "elsewhere"}))
    with pytest.raises(OutputError, match=r"locked by a run on another machine .*delete .*\.hf-mtl\.lock"):
        OutputLock(folder).acquire()
    (folder / LOCK_FILE).write_text("{torn")
    with pytest.raises(OutputError, match="unreadable lock file"):
        OutputLock(folder).acquire()


def test_training_output_plans(tmp_path):
    run = tmp_path / "run"
    assert plan_training_output(run).resume_from is None  # new folder
    run.mkdir()
    (run / "data.csv").write_text("the user's file, not something training writes")
    assert plan_training_output(run).resume_from is None

    (run / "README.md").write_text("my notes")
    with pytest.raises(OutputError, match=r"holds README.md, which training would overwrite.*--overwrite"):
        plan_training_output(run)
    with pytest.raises(OutputError, match="--resume: .* holds no complete checkpoint-N folder to resume from"):
        plan_training_output(run, resume=True)

    (run / "model.safetensors").write_text("x")
    with pytest.raises(OutputError, match="already holds a trained model.*--overwrite"):
        plan_training_output(run)

    (run / "checkpoint-2").mkdir()
    (run / "checkpoint-10").mkdir()
    with pytest.raises(OutputError, match=r"already holds the checkpoints of a run: pass --resume to continue it, or "
                                          r"--overwrite to start over"):
        plan_training_output(run)
    with pytest.raises(OutputError, match=r"no complete checkpoint-N folder .*\(checkpoint-2, checkpoint-10 incomplete\)"):
        plan_training_output(run, resume=True)
    with pytest.raises(OutputError, match=r"Cannot resume from .*checkpoint-10: trainer_state.json is missing"):
        plan_training_output(run, resume=str(run / "checkpoint-10"))
    with pytest.raises(OutputError, match="pass only one"):
        plan_training_output(run, resume=True, overwrite=True)

    plan = plan_training_output(run, overwrite=True)
    assert [path.name for path in plan.stale_checkpoints] == ["checkpoint-2", "checkpoint-10"]
    assert (run / "checkpoint-2").is_dir()  # nothing is deleted until training starts
    plan.clear_stale_checkpoints()
    assert not (run / "checkpoint-2").exists() and (run / "data.csv").is_file() and (run / "README.md").is_file()


def test_first_ctrl_c_asks_for_a_stop_with_a_checkpoint_and_the_second_aborts():
    class Control:
        should_training_stop = False
        should_save = False

    interrupt = GracefulInterrupt()
    previous = signal.getsignal(signal.SIGINT)
    with interrupt:
        assert signal.getsignal(signal.SIGINT) == interrupt._handle
        control = interrupt.on_step_end(None, None, Control())
        assert not control.should_training_stop
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupt.requested
        control = interrupt.on_step_end(None, None, Control())
        assert control.should_training_stop and control.should_save
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) == previous


def test_only_accelerates_main_process_locks_and_cleans(tmp_path, monkeypatch):
    """The main process is accelerate's decision (the Trainer's), not a RANK variable read by hand."""
    import accelerate

    from hf_mtl.workflow.run_folders import TrainingOutput, is_main_process, output_lock

    assert is_main_process()
    monkeypatch.setenv("RANK", "3")  # ignored: accelerate's state says this single process is the main one
    assert is_main_process()

    class OtherRank:
        is_main_process = False

    monkeypatch.setattr(accelerate, "PartialState", OtherRank)
    assert not is_main_process()
    with output_lock(tmp_path / "run"):
        assert not (tmp_path / "run" / LOCK_FILE).exists()
    stale = tmp_path / "run" / "checkpoint-2"
    stale.mkdir(parents=True)
    TrainingOutput(stale_checkpoints=[stale]).clear_stale_checkpoints()
    assert stale.is_dir()  # only the main process deletes
