"""Each loader on a tiny tree in its real layout, plus missing and malformed side files."""
import os

import numpy as np
import pytest
import scipy.io

from cosam_reid.datasets import DatasetFormatError, build_dataset
from dataset_fixtures import (DUKE, MARS_TEST, PRID_SPLIT_0, make_duke, make_ilids, make_mars,
                              make_prid)


def frame_names(tracklet):
    return [os.path.basename(str(frame)) for frame in tracklet.frames]


def summary(tracklets):
    return [(t.pid, t.camid, len(t.frames)) for t in tracklets]


# MARS ---------------------------------------------------------------------

def test_mars_splits_labels_and_frame_order(tmp_path, capsys):
    make_mars(tmp_path)
    dataset = build_dataset("mars", tmp_path)
    # Train pids 5 and 9 relabelled to 0 and 1; cameras 0-based.
    assert summary(dataset.train) == [(0, 0, 3), (0, 1, 2), (1, 0, 4)]
    assert frame_names(dataset.train[0]) == ["0005C1T0001F001.jpg", "0005C1T0001F002.jpg", "0005C1T0001F003.jpg"]
    assert frame_names(dataset.train[2])[0] == "0009C1T0001F001.jpg"
    # Query rows 1 and 5; the junk tracklet is gone, the distractor (pid 0) stays.
    assert summary(dataset.query) == [(2, 0, 2), (7, 3, 2)]
    assert summary(dataset.gallery) == [(2, 2, 1), (0, 1, 2), (7, 1, 1)]
    assert frame_names(dataset.query[1]) == ["0007C4T0001F001.jpg", "0007C4T0001F002.jpg"]
    for frame in dataset.train[0].frames + dataset.gallery[1].frames:
        assert os.path.isfile(frame)
    table = capsys.readouterr().out
    assert "MARS" in table and "train" in table and "query" in table and "gallery" in table
    assert "1 junk test tracklets" in table


def test_mars_root_may_be_the_dataset_folder_itself(tmp_path):
    dataset_dir = make_mars(tmp_path)
    assert len(build_dataset("mars", dataset_dir, verbose=False).query) == 2


@pytest.mark.parametrize("side_file", ["query_IDX.mat", "tracks_test_info.mat", "train_name.txt"])
def test_mars_missing_side_file_is_named(tmp_path, side_file):
    dataset_dir = make_mars(tmp_path)
    path = os.path.join(dataset_dir, "info", side_file)
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=f"missing {path}"):
        build_dataset("mars", tmp_path, verbose=False)


def test_mars_missing_frame_folder_is_named(tmp_path):
    dataset_dir = make_mars(tmp_path)
    os.rename(os.path.join(dataset_dir, "bbox_test"), os.path.join(dataset_dir, "elsewhere"))
    with pytest.raises(FileNotFoundError, match="bbox_test"):
        build_dataset("mars", tmp_path, verbose=False)


def rewrite_mat(path, contents):
    os.remove(path)
    scipy.io.savemat(path, contents)


@pytest.mark.parametrize("contents, expected", [
    ({"track_train_info": np.ones((3, 3))}, "rows \\[first frame, last frame, pid, camera\\]"),
    ({"tracks": np.ones((3, 4))}, "a variable 'track_train_info'"),
    ({"track_train_info": np.array([[1, 3, 5, 1], [4, 5, 5, 2], [6, 99, 9, 1]])}, "row 3"),
    # Rows swapped: row 1 now points at pid 9's frames.
    ({"track_train_info": np.array([[6, 9, 5, 1], [4, 5, 5, 2], [1, 3, 9, 1]])}, "row 1 \\(pid 5, camera 1\\)"),
])
def test_mars_malformed_tracks_file(tmp_path, contents, expected):
    dataset_dir = make_mars(tmp_path)
    path = os.path.join(dataset_dir, "info", "tracks_train_info.mat")
    rewrite_mat(path, contents)
    with pytest.raises(DatasetFormatError, match=expected) as error:
        build_dataset("mars", tmp_path, verbose=False)
    assert path in str(error.value)


def test_mars_unreadable_mat_file(tmp_path):
    dataset_dir = make_mars(tmp_path)
    path = os.path.join(dataset_dir, "info", "query_IDX.mat")
    with open(path, "w") as file:
        file.write("not a mat file")
    with pytest.raises(DatasetFormatError, match="MATLAB") as error:
        build_dataset("mars", tmp_path, verbose=False)
    assert path in str(error.value)


def test_mars_query_rows_out_of_range(tmp_path):
    dataset_dir = make_mars(tmp_path)
    path = os.path.join(dataset_dir, "info", "query_IDX.mat")
    rewrite_mat(path, {"query_IDX": np.array([[1, len(MARS_TEST) + 1]])})
    with pytest.raises(DatasetFormatError, match="row numbers"):
        build_dataset("mars", tmp_path, verbose=False)


def test_mars_malformed_name_list(tmp_path):
    dataset_dir = make_mars(tmp_path)
    path = os.path.join(dataset_dir, "info", "test_name.txt")
    with open(path, "a") as file:
        file.write("frame_0001.jpg\n")
    with pytest.raises(DatasetFormatError, match="frame_0001.jpg") as error:
        build_dataset("mars", tmp_path, verbose=False)
    assert path in str(error.value)


# DukeMTMC-VideoReID ---------------------------------------------------------

def test_duke_splits_both_name_formats_and_frame_order(tmp_path, capsys):
    make_duke(tmp_path)
    dataset = build_dataset("dukemtmc-videoreid", tmp_path)
    assert summary(dataset.train) == [(0, 1, 2), (0, 4, 3), (1, 0, 1)]
    assert frame_names(dataset.train[0]) == ["0003_C2_F0002_X30002.jpg", "0003_C2_F0003_X30001.jpg"]
    assert frame_names(dataset.train[1]) == ["0003C5F8X1.jpg", "0003C5F9X1.jpg", "0003C5F10X1.jpg"]
    assert summary(dataset.query) == [(4, 0, 2)]
    assert summary(dataset.gallery) == [(4, 2, 1), (8, 0, 1)]
    assert "DukeMTMC-VideoReID" in capsys.readouterr().out


def test_duke_mixed_cameras_in_a_tracklet(tmp_path):
    dataset_dir = make_duke(tmp_path)
    pid, tracklet, _ = DUKE["query"][0]
    folder = os.path.join(dataset_dir, "query", pid, tracklet)
    os.rename(os.path.join(folder, "0004_C1_F0002_X1.jpg"), os.path.join(folder, "0004_C2_F0002_X1.jpg"))
    with pytest.raises(DatasetFormatError, match="frames of one camera"):
        build_dataset("dukemtmcvidreid", tmp_path, verbose=False)


def test_duke_unparseable_frame_name(tmp_path):
    dataset_dir = make_duke(tmp_path)
    folder = os.path.join(dataset_dir, "gallery", "0008", "0001")
    os.rename(os.path.join(folder, "0008_C1_F0001_X1.jpg"), os.path.join(folder, "image.jpg"))
    with pytest.raises(DatasetFormatError, match="image.jpg") as error:
        build_dataset("dukemtmcvidreid", tmp_path, verbose=False)
    assert folder in str(error.value)


def test_duke_missing_split_folder(tmp_path):
    dataset_dir = make_duke(tmp_path)
    os.rename(os.path.join(dataset_dir, "gallery"), os.path.join(dataset_dir, "old"))
    with pytest.raises(FileNotFoundError, match="gallery"):
        build_dataset("dukemtmcvidreid", tmp_path, verbose=False)


# iLIDS-VID ---------------------------------------------------------------

def test_ilids_split_from_the_mat_and_frame_order(tmp_path, capsys):
    make_ilids(tmp_path)
    dataset = build_dataset("ilids-vid", tmp_path, split_id=0)
    # Positions 1 and 3 of the sorted folders (person001, person004) train.
    assert summary(dataset.train) == [(0, 0, 3), (0, 1, 3), (1, 0, 3), (1, 1, 3)]
    assert summary(dataset.query) == [(2, 0, 3), (5, 0, 3)]
    assert summary(dataset.gallery) == [(2, 1, 3), (5, 1, 3)]
    assert frame_names(dataset.query[0]) == ["cam1_person002_9.png", "cam1_person002_17.png",
                                             "cam1_person002_100.png"]
    assert "iLIDS-VID (split 0 of 10)" in capsys.readouterr().out


def test_ilids_every_split_is_a_partition(tmp_path):
    make_ilids(tmp_path)
    for split_id in range(10):
        dataset = build_dataset("ilidsvid", tmp_path, split_id=split_id, verbose=False)
        assert len(dataset.train) == 4 and len(dataset.query) == 2 == len(dataset.gallery)
    with pytest.raises(ValueError, match="split_id 10 out of range"):
        build_dataset("ilids-vid", tmp_path, split_id=10, verbose=False)


def test_ilids_missing_split_file(tmp_path):
    dataset_dir = make_ilids(tmp_path)
    path = os.path.join(dataset_dir, "train-test people splits", "train_test_splits_ilidsvid.mat")
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=f"missing {path}"):
        build_dataset("ilids-vid", tmp_path, verbose=False)


@pytest.mark.parametrize("row", [[1, 2, 3, 9], [1, 1, 2, 3], [1, 2, 3]])
def test_ilids_malformed_split_file(tmp_path, row):
    make_ilids(tmp_path, splits=[row] * 10)
    with pytest.raises(DatasetFormatError, match="train_test_splits_ilidsvid.mat"):
        build_dataset("ilids-vid", tmp_path, verbose=False)


def test_ilids_person_in_one_camera_only(tmp_path):
    dataset_dir = make_ilids(tmp_path)
    cam2 = os.path.join(dataset_dir, "i-LIDS-VID", "sequences", "cam2")
    os.rename(os.path.join(cam2, "person005"), os.path.join(cam2, "person006"))
    with pytest.raises(DatasetFormatError, match="the same persons under cam1 and cam2"):
        build_dataset("ilids-vid", tmp_path, verbose=False)


# PRID2011 ------------------------------------------------------------------

def test_prid_split_from_the_json_and_frame_order(tmp_path, capsys):
    make_prid(tmp_path)
    dataset = build_dataset("prid2011", tmp_path, split_id=0)
    assert summary(dataset.train) == [(0, 0, 3), (0, 1, 3)]
    assert [(t.pid, t.camid) for t in dataset.query] == [(3, 0), (2, 0)]
    assert [(t.pid, t.camid) for t in dataset.gallery] == [(3, 1), (2, 1)]
    assert frame_names(dataset.gallery[0]) == ["0001.png", "0002.png", "0010.png"]
    assert PRID_SPLIT_0["test"] == ["person_0003", "person_0002"]
    assert "PRID2011 (split 0 of 10)" in capsys.readouterr().out
    assert summary(build_dataset("prid", tmp_path, split_id=3, verbose=False).train) == [(0, 0, 3), (0, 1, 3)]


def test_prid_missing_split_file(tmp_path):
    dataset_dir = make_prid(tmp_path)
    path = os.path.join(dataset_dir, "splits_prid2011.json")
    os.remove(path)
    with pytest.raises(FileNotFoundError, match=f"missing {path}"):
        build_dataset("prid2011", tmp_path, verbose=False)


@pytest.mark.parametrize("contents", ['[{"train": ["person_0001"]}]', "{not json", '[]',
                                      '[{"train": [1], "test": ["person_0002"]}]'])
def test_prid_malformed_split_file(tmp_path, contents):
    dataset_dir = make_prid(tmp_path)
    path = os.path.join(dataset_dir, "splits_prid2011.json")
    with open(path, "w") as file:
        file.write(contents)
    with pytest.raises(DatasetFormatError, match="splits_prid2011.json"):
        build_dataset("prid2011", tmp_path, verbose=False)


def test_prid_split_naming_an_absent_person(tmp_path):
    make_prid(tmp_path, splits=[{"train": ["person_0001"], "test": ["person_0004"]}])
    # person_0004 has a cam_b sequence only.
    with pytest.raises(DatasetFormatError, match="person_0004"):
        build_dataset("prid2011", tmp_path, verbose=False)


# Registry -----------------------------------------------------------------

def test_unknown_dataset_lists_the_known_ones(tmp_path):
    with pytest.raises(KeyError, match="mars"):
        build_dataset("market1501", tmp_path)


def test_missing_dataset_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=os.path.join(str(tmp_path), "mars")):
        build_dataset("mars", tmp_path)

