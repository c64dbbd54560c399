import json
import sys

import pytest
import torch

from infogan_hub import InfoGANDiscriminator, InfoGANGenerator, LatentSpec

from .conftest import REPOSITORY, SMALL_ARCHITECTURE

PRESETS = sorted((REPOSITORY / "training" / "configs").glob("*.json"))


@pytest.mark.parametrize("image_size, channels", [(28, 1), (32, 3), (64, 1)])
def test_generator_makes_images_in_range_and_discriminator_reads_them(image_size, channels):
    spec = LatentSpec(noise_dim=4, categorical_codes=(3,), continuous_codes=1)
    architecture = dict(SMALL_ARCHITECTURE, image_size=image_size, channels=channels)
    image_generator = InfoGANGenerator(**spec.to_config(), **architecture)
    discriminator = InfoGANDiscriminator(**spec.to_config(), **architecture)
    images = image_generator.generate(spec.sample(3))
    assert images.shape == (3, channels, image_size, image_size)
    assert images.min() >= -1 and images.max() <= 1
    output = discriminator(images)
    assert output.logits.shape == (3,) and output.q_output.shape == (3, spec.q_output_dim)
    # Q's output is read from its hidden features, which the output carries too
    assert output.q_features.shape == (3, discriminator.config.q_hidden_dim)
    assert torch.equal(discriminator.q_head[-1](output.q_features), output.q_output)
    q = discriminator.infer_codes(images)
    assert q.categorical_logits[0].shape == (3, 3) and q.continuous_mean.shape == (3, 1)


def test_the_mnist_network_is_the_papers():
    image_generator, discriminator = InfoGANGenerator(), InfoGANDiscriminator()
    linear_sizes = [(m.in_features, m.out_features) for m in image_generator.modules() if isinstance(m, torch.nn.Linear)]
    assert linear_sizes == [(74, 1024), (1024, 7 * 7 * 128)]
    convolutions = [(m.in_channels, m.out_channels) for m in discriminator.trunk if isinstance(m, torch.nn.Conv2d)]
    assert convolutions == [(1, 64), (64, 128)]
    assert discriminator.q_head[-1].out_features == 10 + 2 * 2


def test_config_holds_the_latent_spec():
    image_generator = InfoGANGenerator(noise_dim=7, categorical_codes=[4, 4], continuous_codes=3, **SMALL_ARCHITECTURE)
    assert LatentSpec.from_config(image_generator.config) == LatentSpec(7, (4, 4), 3)


@pytest.mark.parametrize(
    "arguments, message",
    [({"image_size": 48}, r"image_size must be one of \(28, 32, 64\)"), ({"channels": 2}, "channels must be 1 or 3")],
)
def test_unsupported_architectures_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        InfoGANGenerator(**arguments)
    with pytest.raises(ValueError, match=message):
        InfoGANDiscriminator(**arguments)


def test_discriminator_refuses_wrongly_shaped_images():
    with pytest.raises(ValueError, match=r"Images must have shape \(batch_size, 1, 28, 28\), got \(2, 3, 28, 28\)"):
        InfoGANDiscriminator(**SMALL_ARCHITECTURE)(torch.zeros(2, 3, 28, 28))


@pytest.mark.parametrize("preset", PRESETS, ids=[path.stem for path in PRESETS])
def test_presets_build(preset):
    sys.path.insert(0, str(REPOSITORY / "training"))
    import train

    args = train.parse_args(["--preset", preset.stem])
    image_generator, discriminator = train.build_models(args)
    spec = image_generator.latent_spec
    assert spec == LatentSpec.from_config(json.loads(preset.read_text()))
    images = image_generator.eval().generate(spec.sample(2))
    assert images.shape == (2, args.channels, args.image_size, args.image_size)
    assert discriminator.eval()(images).q_output.shape == (2, spec.q_output_dim)


def test_presets_reproduce_the_papers_latent_codes():
    specs = {path.stem: LatentSpec.from_config(json.loads(path.read_text())) for path in PRESETS}
    assert specs["mnist"] == LatentSpec(62, (10,), 2, continuous_variance="fixed")
    assert specs["svhn"].categorical_codes == (10,) * 4 and specs["svhn"].continuous_codes == 4
    assert specs["celeba"].categorical_codes == (10,) * 10
    assert specs["faces3d"].continuous_codes == 5 and specs["faces3d"].categorical_codes == ()
    # InfoGAN-CR on dSprites: 5 regularised uniform codes and 5 uniform noise dimensions
    assert specs["dsprites"] == LatentSpec(5, (), 5, continuous_variance="fixed")


def test_spectral_norm_replaces_d_s_batchnorm_bounds_its_layers_and_survives_save_and_load(tmp_path):
    discriminator = InfoGANDiscriminator(noise_dim=5, categorical_codes=(), continuous_codes=5, image_size=64, base_channels=8, hidden_dim=32, spectral_norm=True)
    trunk_norms = [m for m in discriminator.trunk.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    assert trunk_norms == [], "InfoGAN-CR's D: spectral norm instead of BatchNorm in the trunk"
    images = torch.randn(6, 1, 64, 64)
    discriminator.train()
    for _ in range(20):  # power iterations settle the estimate of each weight's largest singular value
        discriminator(images)
    with torch.no_grad():
        largest_singular_value = torch.linalg.matrix_norm(discriminator.trunk[0].weight.flatten(1), ord=2).item()
    assert largest_singular_value == pytest.approx(1.0, abs=0.05)
    discriminator.eval()
    expected = discriminator(images).logits
    discriminator.save_pretrained(tmp_path)
    loaded = InfoGANDiscriminator.from_pretrained(tmp_path).eval()
    assert loaded.config.spectral_norm and torch.allclose(loaded(images).logits, expected)


def test_the_overclustering_head_reads_q_s_features_is_absent_by_default_and_survives_save_and_load(tmp_path):
    images = torch.randn(4, 1, 28, 28)
    plain = InfoGANDiscriminator(**SMALL_ARCHITECTURE).eval()
    assert plain.q_overclustering_head is None and plain(images).overclustering_logits is None and len(plain(images, return_dict=False)) == 3
    discriminator = InfoGANDiscriminator(**SMALL_ARCHITECTURE, q_overclustering_categories=50).eval()
    output = discriminator(images)
    assert output.overclustering_logits.shape == (4, 50)
    assert torch.allclose(output.overclustering_logits, discriminator.q_overclustering_head(output.q_features))
    discriminator.save_pretrained(tmp_path)
    loaded = InfoGANDiscriminator.from_pretrained(tmp_path).eval()
    assert loaded.config.q_overclustering_categories == 50 and torch.allclose(loaded(images).overclustering_logits, output.overclustering_logits)


@pytest.mark.parametrize("categories", [-1, 1])
def test_an_overclustering_head_of_fewer_than_two_categories_is_refused(categories):
    with pytest.raises(ValueError, match=f"q_overclustering_categories must be 0 \\(no overclustering head\\) or at least 2, got {categories}"):
        InfoGANDiscriminator(**SMALL_ARCHITECTURE, q_overclustering_categories=categories)
