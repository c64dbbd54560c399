"""InfoGAN on the Hugging Face stack: latent codes, models, losses and a diffusers pipeline.

Importing this package makes `InfoGANPipeline` known to diffusers, so that both
`InfoGANPipeline.from_pretrained(...)` and `DiffusionPipeline.from_pretrained(...)` load a saved
InfoGAN.
"""

import sys

import diffusers
import diffusers.pipelines
from diffusers import ModelMixin  # noqa: F401  diffusers' loader looks this name up in the module a component's class comes from

from .latent import LatentBatch, LatentSpec, QOutput
from .losses import (
    InformationTerms,
    categorical_consistency_loss,
    categorical_consistency_marginal,
    categorical_prior_loss,
    categorical_prior_em_update,
    categorical_prior_matching_loss,
    categorical_shares,
    categorical_size_barrier,
    continuous_warmup_factor,
    contrastive_consistency_loss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    information_terms,
)
from .models import DiscriminatorOutput, InfoGANDiscriminator, InfoGANGenerator
from .pipeline import InfoGANEncodeOutput, InfoGANPipeline, InfoGANPipelineOutput, InfoGANTraversalOutput

# model_index.json records each component's class as (module, class name). Pin the module to the
# package, a public contract, so that moving a file inside it never breaks a saved or pushed model.
for _model_class in (InfoGANGenerator, InfoGANDiscriminator):
    _model_class.__module__ = __name__
# DiffusionPipeline.from_pretrained looks the pipeline class up on the diffusers module.
diffusers.InfoGANPipeline = InfoGANPipeline
# Loading by Hub repo id checks that each component's module is a diffusers pipeline module or has
# a `<component>/<module>.py` file in the repo (diffusers issue #5553). Registering this package as
# a pipeline module lets both loaders resolve "infogan_hub" components from a repo id, as they do
# from a local folder.
diffusers.pipelines.infogan_hub = sys.modules[__name__]

__version__ = "0.1.0"
__all__ = [
    "DiscriminatorOutput",
    "InfoGANDiscriminator",
    "InfoGANEncodeOutput",
    "InfoGANGenerator",
    "InfoGANPipeline",
    "InfoGANPipelineOutput",
    "InfoGANTraversalOutput",
    "InformationTerms",
    "LatentBatch",
    "LatentSpec",
    "QOutput",
    "categorical_consistency_loss",
    "categorical_consistency_marginal",
    "categorical_prior_loss",
    "categorical_prior_em_update",
    "categorical_prior_matching_loss",
    "categorical_shares",
    "categorical_size_barrier",
    "continuous_warmup_factor",
    "contrastive_consistency_loss",
    "discriminator_adversarial_loss",
    "generator_adversarial_loss",
    "information_terms",
]
