"""InfoGAN's objective (paper, section 5): the GAN game plus lambda times the information term L_I."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from .latent import LatentBatch, LatentSpec, QOutput

ADVERSARIAL_LOSSES = ("non_saturating", "minimax")


def _check_adversarial_loss(kind: str) -> None:
    if kind not in ADVERSARIAL_LOSSES:
        raise ValueError(f"adversarial loss must be one of {ADVERSARIAL_LOSSES}, got {kind!r}.")


def discriminator_adversarial_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-E[log D(x)] - E[log(1 - D(G(z, c)))], the discriminator's side of equation (1)."""
    return F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + F.binary_cross_entropy_with_logits(
        fake_logits, torch.zeros_like(fake_logits)
    )


def generator_adversarial_loss(fake_logits: torch.Tensor, kind: str = "non_saturating", reduction: str = "mean") -> torch.Tensor:
    """The generator's side: -E[log D(G)] (non-saturating, the usual choice) or E[log(1 - D(G))] (minimax);
    `reduction="none"` gives one loss per sample."""
    _check_adversarial_loss(kind)
    if kind == "non_saturating":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits), reduction=reduction)
    return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits), reduction=reduction)


def categorical_prior_loss(prior: torch.Tensor, categories: torch.Tensor, sample_losses: torch.Tensor) -> torch.Tensor:
    """E_{c ~ prior}[loss] = sum_k prior_k * mean loss of the fakes drawn with category k, for one code.

    Its gradient in the prior is exact: a category whose fakes D finds less real (a class the
    generator over-produces) loses probability, one D prefers gains it. The Gumbel-softmax path
    reaches the prior only through G's input, where a temperature near 0 leaves almost no gradient.

    Args:
        prior (`torch.Tensor` of shape `(num_categories,)`): the learned class probabilities.
        categories (`torch.Tensor` of shape `(batch,)`): the category each fake was drawn with.
        sample_losses (`torch.Tensor` of shape `(batch,)`): each fake's generator loss; detached here.
    """
    if categories.shape != sample_losses.shape:
        raise ValueError(f"categories and sample_losses must have the same shape, got {tuple(categories.shape)} and {tuple(sample_losses.shape)}.")
    sample_losses = sample_losses.detach().float()
    totals = torch.zeros_like(prior).index_add(0, categories, sample_losses)
    counts = torch.zeros_like(prior).index_add(0, categories, torch.ones_like(sample_losses))
    # A category with no fake in the batch gets the batch mean: no evidence, no push.
    means = torch.where(counts > 0, totals / counts.clamp_min(1), sample_losses.mean())
    return (prior * means).sum()



def categorical_prior_matching_loss(prior: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """Cross entropy of the prior against Q's categories for real images, H(E_x[Q(c|x)], prior), for one code.

    Its minimum is the prior equal to the share of real images Q puts in each category: the
    M-step of a mixture model, with Q as the E-step (a category Q finds in 2% of the data gets 2%).

    Args:
        prior (`torch.Tensor` of shape `(num_categories,)`): the learned class probabilities.
        real_logits (`torch.Tensor` of shape `(batch, num_categories)`): Q's logits for real images; detached here.
    """
    if real_logits.shape[1:] != prior.shape:
        raise ValueError(f"real_logits must have shape (batch, {prior.shape[0]}), one logit per category, got {tuple(real_logits.shape)}.")
    return -(categorical_shares([real_logits]) * prior.clamp_min(torch.finfo(torch.float32).eps).log()).sum()


def categorical_shares(real_logits: Sequence[torch.Tensor], hard: bool = False) -> torch.Tensor:
    """The share of real images Q puts in each category, code after code: shape `(sum(categories),)`
    from one `(batch, categories)` tensor of Q's logits per code (detached).

    Soft (the default): E_x[Q(c|x)]. Hard: the share of images whose most likely category is c,
    as the clustering evaluation counts them. Q learns on fakes, so on real images its posteriors
    are flatter than its decisions: the soft shares pull every category toward 1/K.
    """
    if hard:
        return torch.cat([F.one_hot(logits.detach().argmax(dim=1), logits.shape[1]).float().mean(dim=0) for logits in real_logits])
    return torch.cat([logits.detach().float().softmax(dim=1).mean(dim=0) for logits in real_logits])


def categorical_prior_em_update(
    prior_logits: torch.Tensor, categorical_codes: Sequence[int], shares: torch.Tensor, rate: float, min_share: float = 0.0
) -> torch.Tensor:
    """The M-step as a moving average: each categorical code's prior moves a fraction `rate`
    of the way to the share of real images Q puts in each category (`categorical_shares`).

    Unlike `categorical_prior_matching_loss`, which reaches the prior through a noisy gradient
    and Adam, this sets it: with Q's shares fixed, the prior converges to them geometrically, and
    at rate 1 it equals them. Returns the new logits (log-probabilities), code after code.

    Args:
        prior_logits (`torch.Tensor` of shape `(sum(categorical_codes),)`): the prior's logits.
        categorical_codes (`Sequence[int]`): the number of categories of each code.
        shares (`torch.Tensor` of shape `(sum(categorical_codes),)`): Q's shares, each code's summing to 1.
        rate (`float`): in (0, 1]; 0.01 averages Q's shares over about the last 100 batches.
        min_share (`float`, defaults to 0): the target is `(1 - K * min_share) * shares + min_share`
            for a code of K categories, so no category's probability settles below `min_share`:
            a category Q stops using would otherwise lose its prior, then its fakes, then its
            place in Q (the M-step's rich-get-richer), and its class would be merged into another.
    """
    if not 0 < rate <= 1:
        raise ValueError(f"rate must be in (0, 1], got {rate!r}.")
    if not 0 <= min_share < 1 / max(categorical_codes):
        raise ValueError(f"min_share must be at least 0 and below 1/{max(categorical_codes)} (one over the most categories of a code), got {min_share!r}.")
    if prior_logits.shape != (sum(categorical_codes),) or shares.shape != prior_logits.shape:
        raise ValueError(
            f"prior_logits and shares must both have shape ({sum(categorical_codes)},), one entry per category, got {tuple(prior_logits.shape)} and {tuple(shares.shape)}."
        )
    codes = list(categorical_codes)
    updated = [
        ((1 - rate) * logits.softmax(dim=0) + rate * ((1 - len(share) * min_share) * share + min_share)).clamp_min(torch.finfo(torch.float32).tiny).log()
        for logits, share in zip(prior_logits.detach().float().split(codes), shares.detach().float().split(codes))
    ]
    return torch.cat(updated).to(prior_logits.dtype)


@dataclass
class InformationTerms:
    """The information term, per code, in nats.

    Attributes:
        categorical_cross_entropy (`torch.Tensor` of shape `(num_categorical_codes,)`): E[-log Q(c|x)].
        continuous_negative_log_likelihood (`torch.Tensor` of shape `(num_continuous_codes,)`):
            E[-log Q(c|x)] under Q's factored Gaussian.
        categorical_lower_bound (`torch.Tensor`): L_I = H(c) - cross entropy for each categorical
            code (equation 4); it approaches H(c) = ln K as Q recovers the code.
        continuous_lower_bound (`torch.Tensor`): the same bound for each continuous code, with the
            prior's differential entropy as H(c).
    """

    categorical_cross_entropy: torch.Tensor
    continuous_negative_log_likelihood: torch.Tensor
    categorical_lower_bound: torch.Tensor
    continuous_lower_bound: torch.Tensor

    def loss(self, categorical_weight: float = 1.0, continuous_weight: float = 0.1) -> torch.Tensor:
        """lambda-weighted sum to minimise: maximising L_I is minimising the cross entropies."""
        return categorical_weight * self.categorical_cross_entropy.sum() + continuous_weight * (
            self.continuous_negative_log_likelihood.sum()
        )


def continuous_warmup_factor(step: int, warmup_steps: int) -> float:
    """How much of the continuous codes' weight applies at `step`: 0 for the first half of
    `warmup_steps`, then a linear ramp to 1 at `warmup_steps` (1 throughout when it is 0).

    Early in training a continuous code gains information most cheaply by switching digits (a 5
    that turns into an 8 along c_2), and such a switch can outlive the run; with the continuous
    term off until the categories have formed, the continuous codes are left the style within them.
    """
    if warmup_steps < 0 or step < 0:
        raise ValueError(f"step and warmup_steps must be 0 or positive, got step {step} and warmup_steps {warmup_steps}.")
    if step >= warmup_steps:
        return 1.0
    half = warmup_steps / 2
    return max(0.0, (step - half) / half)


def information_terms(
    spec: LatentSpec, q: QOutput, latents: LatentBatch, categorical_probabilities: Optional[Sequence[torch.Tensor]] = None
) -> InformationTerms:
    """The variational bound's terms for codes `latents` given Q's output on G(z, c); H(c) is that
    of `categorical_probabilities` (a learned prior, one 1-D tensor per code) when given, else ln K."""
    reference = q.continuous_mean
    categorical = [
        F.cross_entropy(logits.float(), latents.categorical[:, index]) for index, logits in enumerate(q.categorical_logits)
    ]
    categorical_cross_entropy = torch.stack(categorical) if categorical else reference.new_zeros(0)
    # Gaussian negative log-likelihood, averaged over the batch, kept separate per code.
    mean, log_variance = q.continuous_mean.float(), q.continuous_log_variance.float()
    negative_log_likelihood = 0.5 * (
        math.log(2 * math.pi) + log_variance + (latents.continuous.float() - mean) ** 2 * torch.exp(-log_variance)
    ).mean(dim=0)
    categorical_entropy = torch.tensor(spec.categorical_entropy(categorical_probabilities), device=reference.device, dtype=torch.float32)
    return InformationTerms(
        categorical_cross_entropy=categorical_cross_entropy,
        continuous_negative_log_likelihood=negative_log_likelihood,
        categorical_lower_bound=categorical_entropy - categorical_cross_entropy,
        continuous_lower_bound=spec.continuous_entropy() - negative_log_likelihood,
    )


def _check_copy_logits(logits: torch.Tensor, transformed_logits: torch.Tensor) -> None:
    if logits.shape != transformed_logits.shape or logits.ndim != 2:
        raise ValueError(f"Both logits must be (batch_size, num_categories) of one shape, got {tuple(logits.shape)} and {tuple(transformed_logits.shape)}.")


def categorical_consistency_marginal(logits: torch.Tensor, transformed_logits: torch.Tensor) -> torch.Tensor:
    """Q's category shares over real images and their transformed copies (the symmetric joint's
    marginal), what the consistency terms' size terms act on; a moving average of it is their
    `running_marginal`."""
    return torch.cat([logits, transformed_logits]).float().softmax(dim=1).mean(dim=0)


def _marginal_read_at(marginal: torch.Tensor, running_marginal: Optional[torch.Tensor]) -> torch.Tensor:
    """`marginal` with the value of `running_marginal` and `marginal`'s gradient (straight through):
    a term of the batch's category shares then pushes them by where the running shares stand, not
    by one batch's draw of the classes."""
    if running_marginal is None:
        return marginal
    if running_marginal.shape != marginal.shape:
        raise ValueError(f"running_marginal must have shape {tuple(marginal.shape)}, one share per category, got {tuple(running_marginal.shape)}.")
    return running_marginal.detach().to(marginal) + marginal - marginal.detach()


def categorical_consistency_loss(
    logits: torch.Tensor,
    transformed_logits: torch.Tensor,
    marginal_entropy_weight: float = 1.0,
    prior: Optional[torch.Tensor] = None,
    running_marginal: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """-I(c; c'), IIC's objective (Ji et al. 2019, equation 3), for Q's category of a real image and
    of a transformed copy; to minimise.

    Maximising the mutual information asks for the same confident category under the transform
    (identity, not pose) and, through its marginal entropy H(c), for every category to be used,
    which rules out the merged categories InfoGAN alone can settle in.

    Args:
        logits, transformed_logits (`torch.Tensor` of shape `(batch_size, num_categories)`): Q's
            categorical logits for the images and for their transformed copies.
        marginal_entropy_weight (`float`, defaults to 1): IIC's lambda; above 1 it adds
            (lambda - 1) times the marginal entropies, pushing harder for every category to be used.
        prior (`torch.Tensor` of shape `(num_categories,)`, *optional*): class probabilities the
            marginals should follow instead of the uniform ones (a learned prior). IIC's loss is
            H(c | c') - (2 lambda - 1) H(c) for the symmetric joint; with a prior it becomes
            H(c | c') + (2 lambda - 1) KL(marginal || prior), equal to IIC up to a constant when the
            prior is uniform. Confident, agreeing categories then cost least at the prior's sizes,
            so imbalanced classes are pushed neither to equal sizes nor past the prior's (keeping
            IIC's whole joint entropy beside the KL would favour sizes in proportion to prior ** 2).
        running_marginal (`torch.Tensor` of shape `(num_categories,)`, *optional*): the categories'
            shares over many recent batches (a moving average, images and copies). The size term
            (the KL to the prior, or to the uniform one when `prior` is unset) is then taken at
            these shares, its gradient still reaching the batch's: a batch of 64 draws a class of
            2% 0 times in 4, and a per-batch size term pushes other images into its category then.
    """
    _check_copy_logits(logits, transformed_logits)
    if running_marginal is not None and prior is None:  # IIC's entropy in its KL form, to the uniform prior
        prior = torch.full(logits.shape[1:], 1 / logits.shape[1], device=logits.device)
    if prior is not None and prior.shape != logits.shape[1:]:
        raise ValueError(f"prior must have shape ({logits.shape[1]},), one probability per category, got {tuple(prior.shape)}.")
    joint = logits.float().softmax(dim=1).T @ transformed_logits.float().softmax(dim=1) / logits.shape[0]
    joint = ((joint + joint.T) / 2).clamp_min(torch.finfo(torch.float32).eps)  # symmetric: either copy may come first
    marginal_rows, marginal_columns = joint.sum(dim=1, keepdim=True), joint.sum(dim=0, keepdim=True)
    lamb = marginal_entropy_weight
    if prior is not None:
        marginal = marginal_rows.squeeze(1)  # the joint is symmetric: rows and columns share it
        conditional_entropy = -(joint * joint.log()).sum() + (marginal * marginal.log()).sum()
        log_prior = prior.detach().float().clamp_min(torch.finfo(torch.float32).eps).log()
        marginal = _marginal_read_at(marginal, running_marginal)
        return conditional_entropy + (2 * lamb - 1) * (marginal * (marginal.log() - log_prior)).sum()
    return -(joint * (joint.log() - lamb * marginal_rows.log() - lamb * marginal_columns.log())).sum()


def categorical_size_barrier(
    logits: torch.Tensor, transformed_logits: torch.Tensor, floor: Optional[float] = None, running_marginal: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """KL(uniform || marginal) of Q's categories over real images and their transformed copies: a
    barrier against a category emptying; to minimise. With `floor`, only the categories whose share
    is below it pay.

    With a learned prior that follows Q's shares, IIC's marginal term (KL to the prior) is near 0
    at any sizes, and nothing resists H(c | c')'s preference for fewer categories: a rare class's
    category empties and the class merges into another. This term's target is fixed, not the
    prior: it is 0 for even sizes and grows without bound as any category empties. Its pull on a
    category's share is 1 / (K share): ten times as strong on a share of 0.3% as on one of 3%, so
    a small weight holds a category alive while bending unequal sizes little.

    Little is not nothing: a rare class's category below 1 / K is still pulled up, and the pull is
    strongest where a class is rarest, so it can grow into a similar class. With a floor F the
    term is (1 / K) sum_k max(0, log(F / share_k)): the same pull below F, none above it.

    Args:
        logits, transformed_logits (`torch.Tensor` of shape `(batch_size, num_categories)`): Q's
            categorical logits for the images and for their transformed copies.
        floor (`float`, *optional*): in (0, 1 / K]; the share below which a category pays. `None`:
            every category pulls towards 1 / K, the ones above it as well (the KL).
        running_marginal (`torch.Tensor` of shape `(num_categories,)`, *optional*): as in
            `categorical_consistency_loss`: the term is taken at these shares, so a rare class's
            category pays when it is small over many batches, not when one batch lacks the class.
    """
    _check_copy_logits(logits, transformed_logits)
    num_categories = logits.shape[1]
    if floor is not None and not 0 < floor <= 1 / num_categories:
        raise ValueError(f"floor must be in (0, 1/{num_categories}] (one over the number of categories), got {floor!r}.")
    marginal = categorical_consistency_marginal(logits, transformed_logits)
    log_marginal = _marginal_read_at(marginal, running_marginal).clamp_min(torch.finfo(torch.float32).eps).log()
    if floor is None:
        return -log_marginal.mean() - math.log(num_categories)
    return (math.log(floor) - log_marginal).clamp_min(0).mean()


def contrastive_consistency_loss(features: torch.Tensor, transformed_features: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """NT-Xent (SimCLR, Chen et al. 2020, equation 1) between Q's features of real images and of
    their transformed copies, Elastic-InfoGAN's consistency term (Ojha et al. 2020); to minimise.

    Each image's features must pick out its own copy's among the batch's 2N - 1 others, by cosine
    similarity: Q's reading becomes invariant to the transform without any term on the categories'
    sizes, so imbalanced classes are pushed neither to even sizes nor to the prior's.

    Args:
        features, transformed_features (`torch.Tensor` of shape `(batch_size, feature_dim)`): Q's
            hidden features (`DiscriminatorOutput.q_features`) for the images and for their copies.
        temperature (`float`, defaults to 1): divides the cosine similarities (Elastic-InfoGAN: 1).
    """
    if features.shape != transformed_features.shape or features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"Both features must be (batch_size >= 2, feature_dim) of one shape, got {tuple(features.shape)} and {tuple(transformed_features.shape)}.")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}.")
    batch = features.shape[0]
    both = F.normalize(torch.cat([features, transformed_features]).float(), dim=1)
    similarities = (both @ both.T / temperature).fill_diagonal_(float("-inf"))  # an image is not its own pair
    pairs = torch.cat([torch.arange(batch, 2 * batch), torch.arange(batch)]).to(features.device)
    return F.cross_entropy(similarities, pairs)
