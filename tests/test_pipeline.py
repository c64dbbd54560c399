import json

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import DiffusionPipeline
from safetensors.torch import load_file

from infogan_hub import InfoGANDiscriminator, InfoGANGenerator, InfoGANPipeline

from .conftest import SMALL_ARCHITECTURE


def _images(pipe, **kwargs):
    return pipe(batch_size=3, generator=torch.Generator().manual_seed(11), output_type="np", **kwargs).images


def test_save_pretrained_records_stable_class_paths(small_pipeline, tmp_path):
    small_pipeline.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == "InfoGANPipeline"
    assert index["image_generator"] == ["infogan_hub", "InfoGANGenerator"]
    assert index["discriminator"] == ["infogan_hub", "InfoGANDiscriminator"]
    assert sorted(path.name for path in (tmp_path / "image_generator").iterdir()) == ["config.json", "diffusion_pytorch_model.safetensors"]


@pytest.mark.parametrize("loader", [InfoGANPipeline, DiffusionPipeline], ids=["InfoGANPipeline", "DiffusionPipeline"])
def test_round_trip_gives_the_same_images_for_the_same_seed(small_pipeline, tmp_path, loader):
    before = _images(small_pipeline, categorical=[4], continuous=[None, -1.5])
    small_pipeline.save_pretrained(tmp_path)
    loaded = loader.from_pretrained(tmp_path)
    assert type(loaded) is InfoGANPipeline
    np.testing.assert_array_equal(_images(loaded, categorical=[4], continuous=[None, -1.5]), before)
    encoded_before = small_pipeline.encode(torch.from_numpy(before).permute(0, 3, 1, 2))
    encoded_after = loaded.encode(torch.from_numpy(before).permute(0, 3, 1, 2))
    torch.testing.assert_close(encoded_after.continuous, encoded_before.continuous)


def test_a_pipeline_without_discriminator_loads_and_generates(small_models, tmp_path):
    InfoGANPipeline(image_generator=small_models[0]).save_pretrained(tmp_path)
    loaded = DiffusionPipeline.from_pretrained(tmp_path)
    assert loaded.discriminator is None and _images(loaded).shape == (3, 28, 28, 1)
    with pytest.raises(ValueError, match="encode needs the discriminator"):
        loaded.encode(np.zeros((1, 28, 28, 1), dtype=np.float32))


def test_torch_dtype_and_device(small_pipeline, tmp_path):
    small_pipeline.save_pretrained(tmp_path)
    # diffusers 0.42 names the argument `dtype` (`torch_dtype` still works, with a deprecation warning)
    loaded = InfoGANPipeline.from_pretrained(tmp_path, dtype=torch.float64).to("cpu")
    assert loaded.image_generator.dtype == torch.float64 and loaded.device.type == "cpu"
    np.testing.assert_allclose(_images(loaded), _images(small_pipeline), atol=1e-5)


def test_same_seed_same_images_other_seed_other_images(small_pipeline):
    assert np.array_equal(_images(small_pipeline), _images(small_pipeline))
    other = small_pipeline(batch_size=3, generator=torch.Generator().manual_seed(12), output_type="np").images
    assert not np.array_equal(_images(small_pipeline), other)


def test_output_types(small_pipeline):
    pil = small_pipeline(batch_size=2).images
    assert len(pil) == 2 and isinstance(pil[0], PIL.Image.Image) and pil[0].size == (28, 28) and pil[0].mode == "L"
    pt = small_pipeline(batch_size=2, output_type="pt").images
    assert pt.shape == (2, 1, 28, 28) and 0 <= pt.min() and pt.max() <= 1
    images, latents = small_pipeline(batch_size=2, output_type="np", return_dict=False)
    assert images.shape == (2, 28, 28, 1) and latents.noise.shape == (2, 62)
    with pytest.raises(ValueError, match=r"output_type must be one of \('pil', 'np', 'pt'\)"):
        small_pipeline(output_type="latent")


def test_codes_beyond_the_trained_range_are_allowed_and_change_the_image(small_pipeline):
    inside, beyond = _images(small_pipeline, continuous=[1.0, 0.0]), _images(small_pipeline, continuous=[2.0, 0.0])
    assert not np.array_equal(inside, beyond)


def test_pipeline_arguments_are_validated_by_the_spec(small_pipeline):
    with pytest.raises(ValueError, match=r"lie in 0\.\.9"):
        small_pipeline(categorical=[10])
    with pytest.raises(ValueError, match="finite"):
        small_pipeline(continuous=[float("nan"), 0.0])


def test_traversal_over_a_continuous_code_holds_the_rest_fixed_per_row(small_pipeline):
    traversal = small_pipeline.traverse("continuous_1", num_rows=3, steps=7, generator=torch.Generator().manual_seed(0), output_type="pt")
    assert traversal.images.shape == (21, 1, 28, 28)
    assert traversal.column_values == pytest.approx(np.linspace(-2, 2, 7).tolist(), abs=1e-6)
    assert traversal.row_values is None
    # make_grid: 2-pixel padding around and between cells
    assert traversal.grid.size == (7 * 30 + 2, 3 * 30 + 2)
    rows = traversal.images.view(3, 7, -1)
    assert not torch.equal(rows[0, 0], rows[0, -1]) and not torch.equal(rows[0, 0], rows[1, 0])


def test_traversal_of_two_codes_varies_rows_and_columns(small_pipeline):
    traversal = small_pipeline.traverse("categorical_0", row_code="continuous_0", row_values=[-1, 0, 1], output_type="np")
    assert traversal.images.shape == (30, 28, 28, 1)
    assert traversal.column_values == list(range(10)) and traversal.row_values == [-1, 0, 1]
    assert traversal.grid.size == (10 * 30 + 2, 3 * 30 + 2)


def test_traversal_cells_equal_direct_calls(small_pipeline):
    traversal = small_pipeline.traverse("continuous_0", values=[-2.0, 0.5], row_code="categorical_0", row_values=[3, 8],
                                        generator=torch.Generator().manual_seed(5), output_type="np")
    latents = small_pipeline.latent_spec.prepare(1, generator=torch.Generator().manual_seed(5))
    direct = small_pipeline(batch_size=1, noise=latents.noise, categorical=[8], continuous=[0.5, latents.continuous[0, 1].item()], output_type="np")
    np.testing.assert_allclose(traversal.images[3], direct.images[0], atol=1e-6)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"code": "continuous_9"}, "Unknown code 'continuous_9'"),
        ({"code": "categorical_0", "values": [11]}, r"lie in 0\.\.9"),
        ({"code": "continuous_0", "steps": 1000}, r"steps must be an integer in 2\.\.64"),
        ({"code": "continuous_0", "value_range": (2, -2)}, "low < high"),
        ({"code": "continuous_0", "row_code": "continuous_0"}, "row_code must differ"),
        ({"code": "continuous_0", "num_rows": 0}, r"num_rows must be an integer in 1\.\.64"),
        ({"code": "continuous_0", "values": [float("nan")]}, "finite"),
    ],
)
def test_traversal_arguments_are_validated(small_pipeline, arguments, message):
    with pytest.raises(ValueError, match=message):
        small_pipeline.traverse(**arguments)


def test_encode_returns_probabilities_and_continuous_means(small_pipeline):
    generated = small_pipeline(batch_size=4, generator=torch.Generator().manual_seed(0))
    for images in (generated.images, np.stack([np.asarray(image) / 255.0 for image in generated.images])[..., None].astype(np.float32)):
        encoded = small_pipeline.encode(images)
        (probabilities,) = encoded.categorical_probabilities
        assert probabilities.shape == (4, 10)
        torch.testing.assert_close(probabilities.sum(-1), torch.ones(4))
        assert torch.equal(encoded.categorical[:, 0], probabilities.argmax(-1))
        assert encoded.continuous.shape == (4, 2) and encoded.continuous_log_variance.shape == (4, 2)


def test_encode_resizes_and_refuses_wrong_channels(small_pipeline):
    big = PIL.Image.new("L", (56, 56), color=255)
    assert small_pipeline.encode(big).categorical.shape == (1, 1)
    rgb_tensor = torch.zeros(1, 3, 28, 28)
    with pytest.raises(ValueError, match="takes 1-channel images, got 3"):
        small_pipeline.encode(rgb_tensor)


def test_components_with_different_specs_are_refused(small_models):
    other = InfoGANGenerator(categorical_codes=(5,), **SMALL_ARCHITECTURE)
    with pytest.raises(ValueError, match="latent specification differs"):
        InfoGANPipeline(image_generator=other, discriminator=small_models[1])


@pytest.mark.parametrize("loader", ["InfoGANPipeline", "DiffusionPipeline"])
def test_a_learned_prior_is_saved_restored_and_sampled_from(tmp_path, loader):
    prior = torch.tensor([0.55, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05])
    image_generator = InfoGANGenerator(**SMALL_ARCHITECTURE, categorical_prior="learned").eval()
    with torch.no_grad():
        image_generator.categorical_prior_logits.copy_(prior.log())
    pipe = InfoGANPipeline(image_generator, InfoGANDiscriminator(**SMALL_ARCHITECTURE, q_hidden_dim=16, categorical_prior="learned").eval())
    pipe.save_pretrained(tmp_path)
    assert "categorical_prior_logits" in load_file(tmp_path / "image_generator" / "diffusion_pytorch_model.safetensors")
    loaded = (InfoGANPipeline if loader == "InfoGANPipeline" else DiffusionPipeline).from_pretrained(tmp_path)
    assert loaded.latent_spec.categorical_prior == "learned"
    (restored,) = loaded.categorical_prior()
    assert torch.allclose(restored, prior, atol=1e-6) and restored.sum().item() == pytest.approx(1)
    drawn = loaded(batch_size=10_000, output_type="pt", generator=torch.Generator().manual_seed(0)).latents.categorical[:, 0]
    assert (drawn == 0).float().mean().item() == pytest.approx(0.55, abs=0.015)


def test_a_uniform_model_reports_the_uniform_prior(small_pipeline):
    (prior,) = small_pipeline.categorical_prior()
    assert torch.allclose(prior, torch.full((10,), 0.1)) and not hasattr(small_pipeline.image_generator, "categorical_prior_logits")
