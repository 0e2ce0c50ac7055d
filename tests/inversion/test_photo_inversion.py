"""inversion.photo_inversion: a photo's faces -> the latents-file record (fixture generator, few steps)."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from inversion.common.errors import FaceLatentError
from inversion.faces.detection import read_imglab_xml
from inversion.common.images import read_photo
from inversion.latents_file import load_latents, save_latents
from inversion.photo_inversion import (
    InversionSettings, align_detections, faces_to_invert, invert_faces, invert_photo, known_pixels,
    whole_photo_face,
)

PHOTO = "2008_001322.jpg"


def labelled_detections(shared):
    """The photo's three labelled faces as detections (``box``, ``landmarks68``), left to right."""
    labels = read_imglab_xml(shared("data", "photos", "training_with_face_landmarks.xml"))[PHOTO]
    labels = sorted(labels, key=lambda lab: lab.box[0] + lab.box[2])
    return [types.SimpleNamespace(box=lab.box, landmarks68=np.asarray(lab.landmarks, np.float64)) for lab in labels]


def test_whole_photo_face_forward_maps_photo_pixels_to_crop_pixels():
    face = whole_photo_face(np.zeros((200, 100, 3), np.uint8), 64)
    assert face.image.shape == (64, 64, 3) and face.alignment == "none" and face.landmarks.shape == (0, 2)
    assert face.box == [0.0, 0.0, 100.0, 200.0] and face.known is None
    corners = face.forward @ np.array([[-0.5, -0.5, 1.0], [99.5, 199.5, 1.0]]).T
    assert np.allclose(corners[:2].T, [[-0.5, -0.5], [63.5, 63.5]])


def test_known_pixels_mark_the_part_of_the_crop_inside_the_photo(shared):
    photo = read_photo(shared("data", "photos", PHOTO))
    found = labelled_detections(shared)
    inside = align_detections(photo, found, [0], "ffhq", 64, mask_outside=True)[0]
    assert inside.known.all() and inside.image.shape == (64, 64, 3)
    # The same face near the left edge: part of its crop lies outside the photo.
    shifted = photo[:, 95:]
    moved = [types.SimpleNamespace(box=found[0].box, landmarks68=found[0].landmarks68 - [95, 0])]
    edge = align_detections(shifted, moved, [0], "ffhq", 64, mask_outside=True)[0]
    assert 0.2 < edge.known.mean() < 1.0
    assert edge.known[:, 0].max() == 0 and edge.known[:, -1].min() == 1
    assert align_detections(shifted, moved, [0], "ffhq", 64)[0].known is None
    assert known_pixels(shifted.shape, np.eye(3), 8).all()
    assert not known_pixels((4, 4), np.eye(3), 8)[5:, 5:].any()


def test_invert_photo_record_scores_and_seeds_per_face_index(shared, G, alex):
    photo = read_photo(shared("data", "photos", PHOTO))
    found = labelled_detections(shared)
    settings = InversionSettings(space="w+", steps=2, seed=5)
    both = align_detections(photo, found, [0, 2], "ffhq", G.img_resolution)
    record, images = invert_photo(photo, G, both, alex, settings, photo_path="p.jpg", lpips_name="alex")
    assert [f.index for f in record.faces] == [0, 2] and record.space == "w+"
    assert record.photo_size == (photo.shape[1], photo.shape[0]) and record.resolution == G.img_resolution
    assert record.settings == {"steps": 2, "pti_steps": 0, "seed": 5, "lpips": "alex", "aligned_input": False,
                               "start": "w_avg"}
    for face in record.faces:
        assert face.latent.shape == (G.num_ws, G.w_dim) and face.noise and face.pti_delta is None
        assert set(face.metrics) == {"lpips", "psnr", "seconds"} and 0 < face.metrics["lpips"] < 2
    assert len(images.targets) == len(images.reconstructions) == 2
    assert np.array_equal(images.targets[1], both[1].image)
    # Face 2 alone gets the same latent as with face 0 beside it (seed + index; batching moves only rounding).
    alone, _ = invert_faces(G, both[1:], alex, settings)
    rounding = float((alone[0].latent - record.faces[1].latent).norm())
    assert rounding < 0.01 * float(record.faces[1].latent.norm())
    other, _ = invert_faces(G, both[1:], alex, InversionSettings(space="w+", steps=2, seed=6))
    assert float((other[0].latent - record.faces[1].latent).norm()) > 10 * rounding


def test_invert_photo_w_space_pti_and_the_record_round_trips(shared, G, alex, tmp_path):
    crop = read_photo(shared("fixtures", "lpips", "ex_ref.png"))
    faces = faces_to_invert(crop, G, aligned=True)
    steps = []
    record, _ = invert_photo(crop, G, faces, alex, InversionSettings(space="w", steps=2, pti_steps=1),
                             progress=lambda description, step: steps.append(description))
    assert steps == ["projecting 1 face(s) into W"] * 2 + ["pivotal tuning of face 0"]
    assert record.faces[0].latent.shape == (G.w_dim,) and record.faces[0].pti_delta
    assert record.settings["aligned_input"] is True
    back = load_latents(save_latents(tmp_path / "x.latents.pt", record), G)
    assert torch.equal(back.faces[0].latent, record.faces[0].latent)


def test_zero_steps_keep_w_avg_and_need_no_lpips(G):
    crop = np.full((G.img_resolution, G.img_resolution, 3), 100, np.uint8)
    records, images = invert_faces(G, [whole_photo_face(crop, G.img_resolution)], None, InversionSettings(steps=0))
    assert torch.equal(records[0].latent, G.mapping.w_avg.float().reshape(1, -1).repeat(G.num_ws, 1))
    assert records[0].noise == {} and "lpips" not in records[0].metrics
    with pytest.raises(ValueError, match="LPIPS"):
        invert_faces(G, [whole_photo_face(crop, G.img_resolution)], None, InversionSettings(steps=1))


def test_a_photo_without_faces_is_refused(G):
    with pytest.raises(FaceLatentError, match="no face found"):
        faces_to_invert(np.full((80, 80, 3), 128, np.uint8), G)
