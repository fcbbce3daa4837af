"""``--workers N`` of extract_landmarks.py / extract_aus.py (datamodules/preprocessing/parallel.py).

The per-video outputs and the report (without its clock columns) are the same with 1 and 2 workers and
as the union of ``--shard 1/2`` and ``2/2``; a bad video is reported the same way; a failure inside a
worker stops the pool naming the video; Ctrl-C ends the workers. Landmark runs need the face models
(skip without), the face videos the shared realdata (skip without).
"""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from datamodules.preprocessing import extract
from datamodules.preprocessing.parallel import Interrupted, WorkerError, map_ordered
from facedep.inference import extract_aus
from test_extract_aus import corrupt_video, dummy_videos, fake_openface, real_cut
from test_extract_landmarks import write_video


# ---- helpers -------------------------------------------------------------------------------------
def report_rows(path: Path, timing: tuple[str, ...]) -> list[dict[str, str]]:
    """Report rows without the clock's columns (``video`` as written: the same path in every run)."""
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k not in timing} for row in csv.DictReader(handle)]


def shard_union(out: Path, timing: tuple[str, ...]) -> list[dict[str, str]]:
    rows = report_rows(out / "extraction_report.shard1of2.csv", timing) + report_rows(out / "extraction_report.shard2of2.csv", timing)
    return sorted(rows, key=lambda row: row["video"])


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of a landmark ``.npz``; the clock's note ``elapsed_ms`` set to 0."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    keys = list(arrays["note_keys"])
    arrays["note_values"] = arrays["note_values"].copy()
    arrays["note_values"][keys.index("elapsed_ms")] = 0
    return arrays


def assert_same_npz(first: Path, second: Path) -> None:
    names = sorted(p.name for p in first.glob("*.npz"))
    assert names == sorted(p.name for p in second.glob("*.npz")) and names
    for name in names:
        a, b = npz_arrays(first / name), npz_arrays(second / name)
        assert sorted(a) == sorted(b)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}: {key}")


@pytest.fixture(scope="module")
def models() -> None:
    from datamodules.preprocessing import face_models

    try:
        face_models.ensure_face_models()
        face_models.ensure_attention_model()
    except face_models.FaceModelError as exc:
        pytest.skip(f"face models unavailable: {exc}")


def run_landmarks(videos: Path, out: Path, *extra: str) -> int:
    return extract.main([str(videos), "--out", str(out), "--no-progress", "--threads", "1", "--stride", "2", *extra])


# ---- the pool itself -----------------------------------------------------------------------------
def _setup(offset: int) -> int:
    return offset


def _add_or_fail(offset: int, item: int) -> int:
    if item == 3:
        raise ValueError(f"cannot take {item}")
    time.sleep(0.05 * (item % 2))  # odd items finish later: results still come in input order
    return item + offset


def _sleep(state: None, item: float) -> float:
    time.sleep(item)
    return item


def _none() -> None:
    return None


def test_results_come_in_input_order_whatever_the_workers() -> None:
    items = [0, 1, 2, 4, 5, 6, 7]
    expected = [(i, i + 10) for i in items]
    assert list(map_ordered(_add_or_fail, items, 1, _setup, (10,))) == expected
    assert list(map_ordered(_add_or_fail, items, 3, _setup, (10,), cost=lambda i: i % 3)) == expected


def test_an_exception_in_a_worker_stops_the_pool_naming_the_item() -> None:
    with pytest.raises(WorkerError, match=r"^3: ValueError: cannot take 3") as caught:
        list(map_ordered(_add_or_fail, [1, 2, 3, 4, 5, 6], 2, _setup, (0,)))
    assert "cannot take 3" in caught.value.detail and "Traceback" in caught.value.detail  # the worker's traceback


def test_ctrl_c_ends_the_workers_and_names_the_videos_in_flight() -> None:
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()  # workers ignore SIGINT; the parent ends them
    started = time.perf_counter()
    with pytest.raises(Interrupted, match="interrupted while processing 60, 61"):
        list(map_ordered(_sleep, [60, 61, 62], 2, _none))
    assert time.perf_counter() - started < 30  # not the 60 s of the running items
    import multiprocessing

    assert not [p for p in multiprocessing.active_children() if p.is_alive()]


# ---- landmarks -----------------------------------------------------------------------------------
def test_landmark_workers_and_shards_match_one_worker_with_a_bad_video(models: None, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, frames in (("a", 6), ("b", 3), ("c", 8), ("d", 4)):
        write_video(videos / f"{name}.mp4", frames=frames)
    corrupt_video(videos / "bb_broken.mp4")
    timing = extract.TIMING_COLUMNS
    assert run_landmarks(videos, tmp_path / "one") == 1  # the broken video
    one_err = capsys.readouterr().err
    assert run_landmarks(videos, tmp_path / "two", "--workers", "2") == 1
    two_err = capsys.readouterr().err
    for shard in ("1/2", "2/2"):
        assert run_landmarks(videos, tmp_path / "shards", "--workers", "2", "--shard", shard) == (1 if shard == "1/2" else 0)
    capsys.readouterr()
    one = report_rows(tmp_path / "one" / extract.REPORT_NAME, timing)
    assert [Path(row["video"]).name for row in one] == ["a.mp4", "b.mp4", "bb_broken.mp4", "c.mp4", "d.mp4"]
    assert one[2]["error"] and "bb_broken.mp4" in one[2]["error"] and one[2]["frames"] == ""
    assert report_rows(tmp_path / "two" / extract.REPORT_NAME, timing) == one
    assert shard_union(tmp_path / "shards", timing) == one
    assert_same_npz(tmp_path / "one", tmp_path / "two")
    assert_same_npz(tmp_path / "one", tmp_path / "shards")
    # stderr: the same lines (errors, warnings) in the same order, but for the clock's numbers
    def lines(err: str) -> list[str]:
        return [line.split(",")[0] for line in err.splitlines() if " video(s) in " not in line]

    assert lines(one_err) == lines(two_err) and "bb_broken.mp4" in two_err and "with 2 worker(s)" in two_err


def test_landmark_workers_on_real_faces(models: None, pyfeat: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("single_face.mp4", "face_noface.mov", "no_face.mp4"):
        (videos / name).symlink_to(pyfeat / name)
    assert run_landmarks(videos, tmp_path / "one") == 0
    assert run_landmarks(videos, tmp_path / "two", "--workers", "2") == 0
    one = report_rows(tmp_path / "one" / extract.REPORT_NAME, extract.TIMING_COLUMNS)
    assert report_rows(tmp_path / "two" / extract.REPORT_NAME, extract.TIMING_COLUMNS) == one
    assert [Path(row["video"]).name for row in one] == ["face_noface.mov", "no_face.mp4", "single_face.mp4"]
    assert int(one[0]["frames_with_face"]) > 0 and one[1]["frames_with_face"] == "0" and one[2]["frames_with_face"] == "36"
    assert_same_npz(tmp_path / "one", tmp_path / "two")


def test_workers_option_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert extract.main([str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert extract_aus.main([str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "0"]) == 2
    assert capsys.readouterr().err.count("--workers must be >= 1") == 2


# ---- AUs -----------------------------------------------------------------------------------------
def run_aus(videos: Path, out: Path, *extra: str) -> int:
    return extract_aus.main([str(videos), "--out", str(out), "--no-progress", *extra])


def csv_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.glob("*.csv") if not p.name.startswith("extraction_report")}


def test_au_workers_and_shards_match_one_worker_openface(tmp_path: Path) -> None:
    binary = fake_openface(tmp_path / "bin")
    dummy_videos(tmp_path / "videos", ["v0.mp4", "v1_bad.mp4", "v2.mp4", "v3.mp4", "v4.mp4"])
    backend = ["--backend", "openface", "--openface-bin", str(binary)]
    timing = extract_aus.TIMING_COLUMNS
    import torch

    threads = torch.get_num_threads()
    assert run_aus(tmp_path / "videos", tmp_path / "one", *backend) == 1
    assert torch.get_num_threads() == threads  # --threads 1 held the run only, not the caller's process
    assert run_aus(tmp_path / "videos", tmp_path / "two", *backend, "--workers", "2") == 1
    for k in (1, 2):
        run_aus(tmp_path / "videos", tmp_path / "shards", *backend, "--workers", "2", "--shard", f"{k}/2")
    one = report_rows(tmp_path / "one" / "extraction_report.csv", timing)
    assert "Could not open" in one[1]["error"] and one[1]["frames"] == "" and len(one) == 5
    assert report_rows(tmp_path / "two" / "extraction_report.csv", timing) == one
    assert shard_union(tmp_path / "shards", timing) == one
    written = csv_bytes(tmp_path / "one")
    assert sorted(written) == ["v0.csv", "v2.csv", "v3.csv", "v4.csv"]
    assert csv_bytes(tmp_path / "two") == written == csv_bytes(tmp_path / "shards")


def test_au_workers_mesh_backend_on_a_real_cut(models: None, realdata: Path, tmp_path: Path) -> None:
    pytest.importorskip("datamodules.preprocessing.aus")
    videos = tmp_path / "videos"
    videos.mkdir()
    real_cut(realdata, videos / "cut.mp4", frames=30)
    corrupt_video(videos / "broken.mp4")
    write_video(videos / "grey.mp4", frames=4)  # readable, no face: reported
    assert run_aus(videos, tmp_path / "one", "--stride", "2") == 1
    assert run_aus(videos, tmp_path / "two", "--stride", "2", "--workers", "3") == 1
    one = report_rows(tmp_path / "one" / "extraction_report.csv", extract_aus.TIMING_COLUMNS)
    assert [row["error"] != "" for row in one] == [True, False, True] and one[1]["frames_with_face"] == "15"
    assert report_rows(tmp_path / "two" / "extraction_report.csv", extract_aus.TIMING_COLUMNS) == one
    assert csv_bytes(tmp_path / "two") == csv_bytes(tmp_path / "one") and list(csv_bytes(tmp_path / "one")) == ["cut.csv"]
