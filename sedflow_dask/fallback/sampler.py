"""Batched affine-invariant ensemble MCMC for galaxies the flow cannot handle.

Each galaxy gets an ensemble of W walkers (Goodman & Weare 2010, as emcee) on the Gaussian
flux likelihood and box prior of :mod:`sedflow_dask.likelihood`. emcee's
``EnsembleSampler(vectorize=True)`` pushes one galaxy's W/2 proposals per half-step through the
model; the forward model costs ~1 ms per call below ~64 rows, so that runs at a fifth of the
model's throughput. Here the proposals of up to ``batch_galaxies`` galaxies go through ONE
model call per half-step (a few hundred rows, the model's efficient size), and a galaxy that
finishes is replaced by the next one waiting.

What a galaxy gets never depends on its batch-mates: its random numbers come from its own
Philox stream (:func:`sedflow_dask.posterior.galaxy_stream` on its 64-bit seed, the flow
sampler's scheme, so the chain is reproducible from (run seed, NSAID)), drawn in fixed blocks
per step, and its convergence checks fall on fixed step counts. The model's float32 engine
sums a row differently depending on the other rows' redshifts (~1e-6 relative), which flips
an occasional accept decision and so changes the chain; with a float64 model
(:func:`fallback_model`) rows agree to ~1e-15 and batched and one-at-a-time chains coincide.

Moves (per galaxy and half-step, chosen from its stream): an independence Metropolis move
(``config.independence_fraction`` of half-steps, once the galaxy has a proposal), else
differential evolution (ter Braak 2006, γ = 2.38 / √(2d), with γ = 1 one step in ten to jump
between modes) or the stretch move (a = 2). The independence move proposes every moving walker
afresh from a multivariate Student-t fitted to the galaxy's own walkers since burn-in (sampling
coordinates, the last ``RECENT_STEPS`` steps), refitted at each convergence check; the
Metropolis ratio carries the t's density, so every kernel leaves the target invariant, and since
the checks fall ~10 % of the chain apart the adaptation diminishes (Roberts & Rosenthal 2007).
Where the posterior is close to elliptical in these coordinates one accepted proposal
decorrelates a walker, which DE's short steps along walker differences take hundreds of steps to
do on posteriors pressed against the prior's edges (``docs/fallback.md`` has the measurement).
Measured alternatives: stretch alone, snooker moves, prior refreshes of single coordinates,
ensemble slice sampling and walking in the flow's base space were no better per model evaluation.

Coordinates. Every box coordinate is mapped through a logit (the ensemble then never proposes
across the prior's hard edges; the log Jacobian is part of the target), and the log-mass is
sheared: fluxes are proportional to 10^log_mstar, so log_mstar is strongly degenerate with
everything that sets the mass-to-light ratio. Walkers move in δ = logit(log_mstar) −
logit(g(ϑ)) with ϑ the other ten parameters and g(ϑ) their least-squares log-mass (clipped to
the prior range). A shear has unit Jacobian, so the target is unchanged, but the ensemble no
longer has to follow the curved mass–light ridge; it costs nothing because the model is
evaluated at log_mstar = 10 anyway and rescaled. Draws are reported in box coordinates.

Walkers start from the caller's distinct draws (the inference stage passes the flow's draws
resampled by their importance weights: an approximate posterior sample, so the ensemble starts
spread as the posterior is); where those are fewer than the walkers (degenerate weights leave a
few repeated points), the rest start from the best of the prior draws, never from copies.

Convergence and bounds. At fixed step counts (first at 200, then every ~10 % of the chain) the
burn-in is the later of (a) the first step where the walkers' mean log-posterior reaches its
median over the last half of the chain and (b) 5 τ (τ of the previous check), at most half the
chain; τ (:func:`integrated_time`) is then estimated on the rest. A galaxy is done ("mcmc")
when its kept chain passes ``config.convergence``: "tau" (default), ESS = L·W / max τ >=
``target_ess`` and L >= ``min_tau_multiple`` · max τ; or "rhat_ess", ArviZ's rank-normalised
split R̂ < ``max_rhat`` and bulk ESS >= ``min_bulk_ess`` for every parameter, each walker a
chain (Vehtari et al. 2021; computed on the kept chain thinned to at most
``DIAGNOSTIC_DRAWS`` steps per walker, which can only lower the ESS, and only once the cheap
L·W / max τ has reached half the ESS target). It stops ("unconverged") when the seconds charged to it
reach ``max_seconds`` or it has run ``max_steps``, safety caps: each batched step's wall time is
shared among its galaxies by their model evaluations, so a batch of G galaxies takes at most
about G × ``max_seconds`` wall seconds. Both diagnostics are recorded for every galaxy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.linalg import solve_triangular
from scipy.special import expit

from ..config import FallbackConfig, SPSConfig
from ..likelihood import REFERENCE_LOG_MASS, best_log_mass, check_observations, chi2, gaussian_log_likelihood
from ..posterior.mixture import fit_student_t
from ..posterior.sampling import galaxy_stream
from ..prior import SEDPrior
from ..sps.parameters import N_BOX
from .autocorr import integrated_time

#: Prior draws per galaxy from which walkers are initialised (besides any caller's draws).
N_PRIOR_CANDIDATES = 1024
#: Steps of random numbers drawn from a galaxy's stream at a time (part of the seed contract:
#: changing it changes every chain).
_RNG_BLOCK = 64
_STRETCH_A = 2.0
_DE_JUMP_EVERY = 10
_DE_GAMMA = 2.38 / np.sqrt(2.0 * N_BOX)
_BURN_TAUS = 5.0
_FIRST_CHECK = 200
_MIN_CHECK_STEP = 100
#: Steps per walker of the (thinned) kept chain on which R̂ and bulk ESS are computed.
DIAGNOSTIC_DRAWS = 500
#: Latest ensemble steps of sampling coordinates a galaxy keeps (float32, 1.4 MB at 32 walkers)
#: to fit its independence proposal to at each convergence check.
RECENT_STEPS = 1024
#: Fewest walker positions (after burn-in) an independence proposal is fitted to.
_MIN_FIT_POINTS = 4 * N_BOX
#: Most ensemble steps a galaxy's stored chain holds (11.5 MB at 32 walkers in float32). A longer
#: chain is stored every ``stride``-th step, the stride doubling each time the store fills: a
#: chain that meets the 50 τ rule is then stored at least every τ / 80 steps, fine enough for
#: τ, burn-in and draws, so the step cap can follow the time cap instead of memory.
MAX_STORED_STEPS = 8192


@dataclass(frozen=True)
class FallbackResult:
    """MCMC posteriors of G galaxies in the 11-dim box space.

    Attributes:
        samples: (G, n_keep, 11) float64 draws after burn-in, evenly thinned from all walkers;
            NaN rows where the kept chain had fewer points (short timeouts).
        status: (G,) "mcmc" (converged: ESS and length targets met) or "unconverged" (time or step
            cap reached first; samples are still the chain's best effort).
        ess: (G,) effective sample size L·W / max τ of the kept chain.
        ess_bulk: (G,) ArviZ bulk ESS of the kept chain, its worst parameter (walkers as chains).
        rhat: (G,) ArviZ rank-normalised split R̂ of the kept chain, its worst parameter.
        tau: (G, 11) integrated autocorrelation time [steps] per box parameter (inf: unknown).
        accept_frac: (G,) accepted proposals / proposals over the whole run.
        n_steps: (G,) ensemble steps run; n_burn: (G,) of them discarded as burn-in.
        n_evals: (G,) forward-model evaluations spent on the galaxy (initialisation included).
        wall_s: (G,) seconds charged to the galaxy (its share of the batched steps).
        chi2_min: (G,) lowest χ² (5 bands) any walker reached.
        seeds: (G,) uint64 galaxy seeds used.
        n_walkers: walkers per galaxy.
    """

    samples: np.ndarray
    status: np.ndarray
    ess: np.ndarray
    ess_bulk: np.ndarray
    rhat: np.ndarray
    tau: np.ndarray
    accept_frac: np.ndarray
    n_steps: np.ndarray
    n_burn: np.ndarray
    n_evals: np.ndarray
    wall_s: np.ndarray
    chi2_min: np.ndarray
    seeds: np.ndarray
    n_walkers: int

    @property
    def converged(self) -> np.ndarray:
        """(G,) True where status is "mcmc"."""
        return self.status == "mcmc"


def fallback_model(sps: SPSConfig | None = None):
    """A float64 :class:`~sedflow_dask.sps.PROVABGSModel` for the fallback (same options otherwise).

    With float64 a galaxy's chain is the same whichever galaxies share its batch (see the
    module docstring); the model runs ~1.7x slower than float32.
    """
    from ..sps import PROVABGSModel

    return PROVABGSModel(config=dataclasses.replace(sps or SPSConfig(), dtype="float64"))


class _Evaluator:
    """Log-posterior of walkers in sheared coordinates, many galaxies per model call.

    Arguments named ``z`` (M,), ``flux`` and ``sigma`` (M, 5) [nanomaggies] are the observations
    of each row's galaxy (:meth:`_Observations.rows`).
    """

    def __init__(self, model, prior: SEDPrior) -> None:
        self.model = model
        self.prior = prior
        self.lo_m = float(prior.lower[0])
        self.hi_m = float(prior.upper[0])
        self.log_span = float(np.sum(np.log(prior.upper - prior.lower)))

    def shape(self, rest: np.ndarray, z: np.ndarray, flux: np.ndarray, sigma: np.ndarray):
        """Model fluxes at log_mstar = 10 (M, 5) and g(ϑ) (M,) for rows (M, 10) of ϑ; NaN outside the box."""
        n_rows = rest.shape[0]
        theta = np.empty((n_rows, N_BOX))
        theta[:, 0] = REFERENCE_LOG_MASS
        theta[:, 1:] = rest
        inside = self.prior.in_support(theta)
        unit = np.full((n_rows, 5), np.nan)
        best_mass = np.full(n_rows, np.nan)
        if inside.any():
            unit[inside] = self.model.photometry(theta[inside], z[inside], space="box", unit="nanomaggies")
            best_mass[inside] = np.clip(best_log_mass(unit[inside], flux[inside], sigma[inside]), self.lo_m, self.hi_m)
        return unit, best_mass

    def log_prob(self, log_mass: np.ndarray, rest: np.ndarray, unit: np.ndarray, flux: np.ndarray,
                 sigma: np.ndarray):
        """(log posterior (M,), χ² (M,)) of box points (log_mass, ϑ) whose unit fluxes are known."""
        box = np.concatenate([log_mass[:, None], rest], axis=1)
        finite = np.isfinite(log_mass) & np.isfinite(unit[:, 0])
        lp = np.full(box.shape[0], -np.inf)
        c2 = np.full(box.shape[0], np.inf)
        if finite.any():
            points = box[finite]
            lp_prior = self.prior.log_prob(points)
            model_flux = unit[finite] * 10.0 ** (points[:, :1] - REFERENCE_LOG_MASS)
            lp[finite] = lp_prior + gaussian_log_likelihood(model_flux, flux[finite], sigma[finite])
            c2[finite] = chi2(model_flux, flux[finite], sigma[finite])
        return lp, c2

    def mass_logit(self, best_mass: np.ndarray) -> np.ndarray:
        """logit of the best-fitting log-mass g(ϑ) on the prior's range: the shear's offset."""
        return _logit((best_mass - self.lo_m) / (self.hi_m - self.lo_m))

    def box_logit(self, box: np.ndarray) -> np.ndarray:
        """Unsheared logit coordinates (M, 11) of box points (M, 11)."""
        return _logit((box - self.prior.lower) / (self.prior.upper - self.prior.lower))

    def to_sampling(self, box: np.ndarray, best_mass: np.ndarray) -> np.ndarray:
        """Sampling coordinates (M, 11) of box points (M, 11) with best-fit log-masses (M,)."""
        sampling = self.box_logit(box)
        sampling[:, 0] -= self.mass_logit(best_mass)
        return sampling

    def with_jacobian(self, lp: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """Log target in sampling coordinates (M,) of log posteriors ``lp`` (M,) at unsheared
        logit coordinates ``logits`` (M, 11): the logistic maps' log Jacobian added (the shear
        adds nothing)."""
        return lp + self.log_span - np.sum(np.logaddexp(0.0, logits) + np.logaddexp(0.0, -logits), axis=1)

    def evaluate(self, sampling: np.ndarray, z: np.ndarray, flux: np.ndarray, sigma: np.ndarray):
        """(box points (M, 11), log target (M,), χ² (M,)) of sampling coordinates (M, 11)."""
        lo, span = self.prior.lower, self.prior.upper - self.prior.lower
        # lo + span · 1.0 can round one ulp past the upper bound: clip back into the box.
        rest = np.clip(lo[1:] + span[1:] * expit(sampling[:, 1:]), lo[1:], self.prior.upper[1:])
        unit, best_mass = self.shape(rest, z, flux, sigma)
        mass_logit = sampling[:, 0] + self.mass_logit(best_mass)
        log_mass = np.clip(lo[0] + span[0] * expit(mass_logit), self.lo_m, self.hi_m)
        box = np.concatenate([log_mass[:, None], rest], axis=1)
        lp, c2 = self.log_prob(box[:, 0], rest, unit, flux, sigma)
        logits = np.concatenate([mass_logit[:, None], sampling[:, 1:]], axis=1)
        return box, self.with_jacobian(lp, logits), c2


@dataclass(frozen=True)
class _Observations:
    """The checked observations of a run's G galaxies (:func:`check_observations`)."""

    flux: np.ndarray   # (G, 5) [nanomaggies]
    sigma: np.ndarray  # (G, 5) [nanomaggies]
    z: np.ndarray      # (G,)

    def rows(self, galaxy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z (M,), flux (M, 5), sigma (M, 5)) of the galaxies at positions ``galaxy`` (M,): the
        :class:`_Evaluator`'s argument order."""
        return self.z[galaxy], self.flux[galaxy], self.sigma[galaxy]


@dataclass(frozen=True)
class IndependenceProposal:
    """A multivariate Student-t in sampling coordinates, the independence move's proposal.

    Attributes:
        loc: (d,) centre; chol: (d, d) lower Cholesky factor of the shape; df: degrees of freedom.
    """

    loc: np.ndarray
    chol: np.ndarray
    df: float

    @classmethod
    def fit(cls, points: np.ndarray, df: float, inflation: float) -> IndependenceProposal | None:
        """The t fitted to ``points`` (N, d) (:func:`~sedflow_dask.posterior.mixture.fit_student_t`,
        equal weights); None for too few or non-finite points."""
        points = points[np.all(np.isfinite(points), axis=1)]
        if points.shape[0] < _MIN_FIT_POINTS:
            return None
        try:
            t = fit_student_t(points, np.ones(points.shape[0]), df=df, inflation=inflation)
            return cls(loc=np.asarray(t.loc, dtype=np.float64), chol=np.linalg.cholesky(t.shape), df=df)
        except (np.linalg.LinAlgError, ValueError):
            return None

    def draw(self, normal: np.ndarray, chi2: np.ndarray) -> np.ndarray:
        """(n, d) t draws from standard normals ``normal`` (n, d) and χ²(df) variates ``chi2`` (n,)."""
        return self.loc + (normal @ self.chol.T) / np.sqrt(chi2 / self.df)[:, None]

    def log_density(self, y: np.ndarray) -> np.ndarray:
        """(n,) log density at ``y`` (n, d) up to a constant (it cancels in the Metropolis ratio)."""
        whitened = solve_triangular(self.chol, (y - self.loc).T, lower=True)
        return -0.5 * (self.df + y.shape[1]) * np.log1p(np.sum(whitened**2, axis=0) / self.df)


class _Galaxy:
    """State of one galaxy's ensemble: walkers, its random stream, its chain so far."""

    def __init__(self, index: int, seed: np.uint64, n_walkers: int, max_steps: int,
                 independence_df: float = FallbackConfig.independence_df) -> None:
        self.index = index
        self.rng = galaxy_stream(int(seed))
        self.n_walkers = n_walkers
        self.independence_df = independence_df
        # the latest RECENT_STEPS steps' sampling coordinates (a ring), for the independence fit
        self.recent = np.empty((min(RECENT_STEPS, max_steps), n_walkers, N_BOX), dtype=np.float32)
        self.proposal: IndependenceProposal | None = None
        self.y = np.empty((n_walkers, N_BOX))   # sampling coordinates (see the module docstring)
        self.x = np.empty((n_walkers, N_BOX))   # box coordinates
        self.lp = np.empty(n_walkers)
        self.max_steps = max_steps
        # walkers' box points at steps 0, stride, 2·stride, ... (n_stored of them)
        self.chain = np.empty((min(1024, max_steps, MAX_STORED_STEPS), n_walkers, N_BOX), dtype=np.float32)
        self.stride = 1
        self.n_stored = 0
        self.mean_lp = np.empty(min(1024, max_steps))  # every step's mean log target
        self.n_steps = 0
        self.n_accepted = 0
        self.n_evals = 0
        self.step_evals = 0
        self.charged = 0.0
        self.chi2_min = np.inf
        self.next_check = _FIRST_CHECK
        self.tau_prev = np.inf  # max τ at the previous convergence check
        self.done = False
        self.block: dict[str, np.ndarray] = {}
        self.block_pos = _RNG_BLOCK

    def variates(self) -> dict[str, np.ndarray]:
        """This step's random numbers (both half-steps), drawn from the stream in fixed blocks.

        The same numbers are drawn whichever move a step makes, so a galaxy's stream advances
        by a fixed amount per step: its chain depends on its seed alone.
        """
        if self.block_pos == _RNG_BLOCK:
            n_half = self.n_walkers // 2
            rng = self.rng
            shape = (_RNG_BLOCK, 2, n_half)
            self.block = {"j1": rng.integers(0, n_half, shape), "j2": rng.integers(0, n_half - 1, shape),
                          "move": rng.random((_RNG_BLOCK, 2)), "stretch": rng.random(shape),
                          "jitter": rng.standard_normal(shape), "accept": rng.random(shape),
                          "normal": rng.standard_normal((*shape, N_BOX)),
                          "chi2": rng.chisquare(self.independence_df, shape)}
            self.block_pos = 0
        step = self.block_pos
        self.block_pos += 1
        return {key: block[step] for key, block in self.block.items()}

    def accept(self, walkers: slice, moved: np.ndarray, y_new: np.ndarray, x_new: np.ndarray,
               lp_new: np.ndarray) -> None:
        """Move the ``walkers`` where ``moved`` to sampling points ``y_new`` (box points, log target given)."""
        if moved.any():
            y, x, lp = self.y[walkers], self.x[walkers], self.lp[walkers]
            y[moved] = y_new[moved]
            x[moved] = x_new[moved]
            lp[moved] = lp_new[moved]
            self.n_accepted += int(moved.sum())

    def record(self) -> None:
        """Append the walkers' mean log target to its record and, every ``stride``-th step, their
        box points to the stored chain (:data:`MAX_STORED_STEPS`)."""
        if self.n_steps == self.mean_lp.shape[0]:  # doubles, up to the step cap
            more = min(self.mean_lp.shape[0], self.max_steps - self.n_steps)
            self.mean_lp = np.concatenate([self.mean_lp, np.empty(more)])
        self.mean_lp[self.n_steps] = self.lp.mean()
        self.recent[self.n_steps % self.recent.shape[0]] = self.y
        if self.n_steps % self.stride == 0:
            if self.n_stored == self.chain.shape[0]:
                if self.n_stored < MAX_STORED_STEPS:
                    more = min(self.n_stored, MAX_STORED_STEPS - self.n_stored)
                    self.chain = np.concatenate([self.chain, np.empty((more, *self.chain.shape[1:]), self.chain.dtype)])
                else:  # full: keep every other stored step (steps 0, 2·stride, ...) and double the stride
                    kept = self.chain[0: self.n_stored: 2]
                    self.n_stored = kept.shape[0]
                    self.chain[: self.n_stored] = kept
                    self.stride *= 2
            if self.n_steps % self.stride == 0:  # this step may fall between the doubled stride's
                self.chain[self.n_stored] = self.x
                self.n_stored += 1
        self.n_steps += 1

    def stored_from(self, step: int) -> np.ndarray:
        """The stored chain (L', W, 11) from ensemble step ``step`` on (every ``stride``-th step)."""
        return self.chain[-(-step // self.stride): self.n_stored]

    def recent_from(self, step: int) -> np.ndarray:
        """Sampling coordinates (L'·W, 11) of the walkers at the kept recent steps from ``step`` on."""
        first = max(step, self.n_steps - self.recent.shape[0])
        rows = np.arange(first, self.n_steps) % self.recent.shape[0]
        return self.recent[rows].reshape(-1, N_BOX).astype(np.float64)


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """torch on one thread for the run: each model call is a few hundred rows, where torch's
    pool only adds overhead, and it stalls when other processes compete for the cores (measured:
    6 steps instead of 476 in a 1 s bound). Not ``runtime.single_threaded_torch``: its lock
    would block the model's own block pool threads and the process's other threads for the
    whole run."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1.0 - 1e-12)
    return np.log(p) - np.log1p(-p)


def _partners(v: dict[str, np.ndarray], half: int) -> tuple[np.ndarray, np.ndarray]:
    """Two different walkers of the complementary half per walker."""
    j1 = v["j1"][half]
    j2 = v["j2"][half]
    return j1, j2 + (j2 >= j1)


def _mh_half(evaluator: _Evaluator, observations: _Observations, galaxies: list[_Galaxy],
             variates: list[dict[str, np.ndarray]], half: int, p_de: float, p_independence: float) -> None:
    """One Metropolis half-step (independence, differential evolution or stretch) of every
    galaxy: one model call.

    ``half`` (0 or 1) is the half of each ensemble that moves, against the other half's walkers.
    A galaxy with an independence proposal takes that move with probability ``p_independence``;
    otherwise differential evolution with probability ``p_de``, else stretch.
    """
    n_half = galaxies[0].n_walkers // 2
    moving, others = (slice(0, n_half), slice(n_half, None)) if half == 0 else (slice(n_half, None), slice(0, n_half))
    proposals, log_q = [], []
    for galaxy, draws in zip(galaxies, variates):
        y_moving, y_others = galaxy.y[moving], galaxy.y[others]
        u = draws["move"][half]
        if galaxy.proposal is not None:  # set only when independence moves are on
            if u < p_independence:
                new = galaxy.proposal.draw(draws["normal"][half], draws["chi2"][half])
                proposals.append(new)
                log_q.append(galaxy.proposal.log_density(y_moving) - galaxy.proposal.log_density(new))
                continue
            u = (u - p_independence) / (1.0 - p_independence)
        j1, j2 = _partners(draws, half)
        if u < p_de:
            # ter Braak's DE; every tenth DE step a full jump (γ = 1) between modes.
            gamma = 1.0 if u < p_de / _DE_JUMP_EVERY else _DE_GAMMA
            proposals.append(y_moving + (gamma * (1.0 + 1e-4 * draws["jitter"][half]))[:, None]
                             * (y_others[j1] - y_others[j2]))
            log_q.append(np.zeros(n_half))
        else:
            stretch = ((_STRETCH_A - 1.0) * draws["stretch"][half] + 1.0) ** 2 / _STRETCH_A
            proposals.append(y_others[j1] + stretch[:, None] * (y_moving - y_others[j1]))
            log_q.append((N_BOX - 1) * np.log(stretch))
    y_new = np.concatenate(proposals)
    owner = np.repeat([galaxy.index for galaxy in galaxies], n_half)
    x_new, lp_new, c2 = evaluator.evaluate(y_new, *observations.rows(owner))
    for k, (galaxy, draws) in enumerate(zip(galaxies, variates)):
        rows = slice(k * n_half, (k + 1) * n_half)
        with np.errstate(invalid="ignore"):
            accepted = np.log(draws["accept"][half]) < log_q[k] + lp_new[rows] - galaxy.lp[moving]
        galaxy.accept(moving, accepted, y_new[rows], x_new[rows], lp_new[rows])
        galaxy.chi2_min = min(galaxy.chi2_min, float(np.min(c2[rows])))
        galaxy.step_evals += n_half


def starting_walkers(candidates: np.ndarray, given: np.ndarray, lp: np.ndarray, n_walkers: int) -> np.ndarray:
    """Positions of the ``n_walkers`` candidates (K, 11) the ensemble starts from: the first
    distinct caller-given ones with a finite target ``lp`` (K,), then the distinct others by
    decreasing ``lp``.

    Duplicates never start two walkers: the differential-evolution and stretch moves propose
    along differences between walkers, so an ensemble on a few repeated points (the
    weight-resampled draws of a galaxy whose weights are degenerate) could only crawl by
    rounding noise.
    """
    finite = np.isfinite(lp)
    _, first = np.unique(candidates, axis=0, return_index=True)
    distinct = np.zeros(candidates.shape[0], dtype=bool)
    distinct[first] = True
    caller = np.flatnonzero(distinct & given & finite)[:n_walkers]
    is_caller = np.zeros(candidates.shape[0], dtype=bool)
    is_caller[caller] = True
    others = np.flatnonzero(distinct & ~is_caller)
    others = others[np.argsort(-np.where(finite[others], lp[others], -np.inf), kind="stable")]
    return np.concatenate([caller, others])[:n_walkers]


def _thin(points: np.ndarray, n_keep: int) -> np.ndarray:
    out = np.full((n_keep, N_BOX), np.nan)
    if points.shape[0] == 0:
        return out
    idx = np.unique(np.linspace(0, points.shape[0] - 1, min(n_keep, points.shape[0])).round().astype(np.int64))
    out[: idx.size] = points[idx]
    return out


def _diagnose(gal: _Galaxy) -> tuple[int, np.ndarray, float]:
    """(burn-in steps, τ per parameter, ESS) of a galaxy's chain so far.

    The burn-in's 5 τ uses the previous check's τ (the first check estimates it on the second
    half of the chain), which saves an autocorrelation pass per check.
    """
    n = gal.n_steps
    if n < 8:
        return n, np.full(N_BOX, np.inf), 0.0
    # τ in steps: the stored chain's τ (in stored steps) times the stride
    tau_prev = gal.tau_prev if np.isfinite(gal.tau_prev) else float(np.max(integrated_time(gal.stored_from(n // 2)))) * gal.stride
    settled = np.flatnonzero(gal.mean_lp[:n] >= np.median(gal.mean_lp[n // 2: n]))
    t_lp = int(settled[0]) if settled.size else n // 2
    burn = max(t_lp, int(np.ceil(_BURN_TAUS * tau_prev)) if np.isfinite(tau_prev) else n // 2)
    burn = min(n // 2, burn)
    tau = integrated_time(gal.stored_from(burn)) * gal.stride
    tau_max = float(np.max(tau))
    gal.tau_prev = tau_max
    ess = (n - burn) * gal.n_walkers / tau_max if np.isfinite(tau_max) and tau_max > 0 else 0.0
    return burn, tau, ess


def rank_diagnostics(chain: np.ndarray) -> tuple[float, float]:
    """(worst R̂, worst bulk ESS) over parameters of a chain (L steps, W walkers, d parameters).

    ArviZ's rank-normalised split R̂ and bulk ESS with each walker as a chain, on the chain
    thinned to at most ``DIAGNOSTIC_DRAWS`` steps (cost: ~0.3 s at 32 walkers). (NaN, 0) for a
    chain too short to judge.
    """
    import warnings

    x = np.asarray(chain)
    if x.shape[0] < 8:
        return float("nan"), 0.0
    x = x[:: int(np.ceil(x.shape[0] / DIAGNOSTIC_DRAWS))].astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ArviZ's import notice, and constant-chain warnings
        import arviz

        rhat = [float(arviz.rhat(x[:, :, d].T, method="rank")) for d in range(x.shape[2])]
        ess = [float(arviz.ess(x[:, :, d].T, method="bulk")) for d in range(x.shape[2])]
    worst_rhat = max(rhat) if all(np.isfinite(rhat)) else float("inf")
    return worst_rhat, float(np.nan_to_num(min(ess), nan=0.0))


class _FallbackRun:
    """One :func:`run_fallback` call: its settings, evaluator and observations, and the results
    of the galaxies done so far (one row per galaxy, in the input's order)."""

    def __init__(self, config: FallbackConfig, evaluator: _Evaluator, observations: _Observations,
                 seeds: np.ndarray, init: np.ndarray | None, p_de: float) -> None:
        self.config = config
        self.evaluator = evaluator
        self.prior = evaluator.prior
        self.observations = observations
        self.seeds = seeds
        self.init = init
        self.p_de = p_de
        n_galaxies = seeds.shape[0]
        self.n_galaxies = n_galaxies
        # FallbackResult's fields but seeds and n_walkers, as a galaxy not (yet) done reads.
        self.results: dict[str, np.ndarray] = {
            "samples": np.full((n_galaxies, config.n_keep, N_BOX), np.nan),
            "status": np.full(n_galaxies, "unconverged", dtype="<U11"),
            "ess": np.zeros(n_galaxies), "ess_bulk": np.zeros(n_galaxies), "rhat": np.full(n_galaxies, np.inf),
            "tau": np.full((n_galaxies, N_BOX), np.inf),
            "accept_frac": np.zeros(n_galaxies), "n_steps": np.zeros(n_galaxies, np.int64),
            "n_burn": np.zeros(n_galaxies, np.int64), "n_evals": np.zeros(n_galaxies, np.int64),
            "wall_s": np.zeros(n_galaxies), "chi2_min": np.full(n_galaxies, np.inf),
        }

    def start_galaxies(self, batch: list[int]) -> list[_Galaxy]:
        """Ensembles of the galaxies at positions ``batch``, their walkers placed with one model call.

        Walkers start at the caller's distinct draws (at most W) and the rest at the best (highest
        log target) distinct prior draws (:func:`starting_walkers`).
        """
        t0 = time.perf_counter()
        n_walkers = self.config.n_walkers
        galaxies = [_Galaxy(i, self.seeds[i], n_walkers, self.config.max_steps, self.config.independence_df)
                    for i in batch]
        candidates, owners, from_caller = [], [], []
        for k, galaxy in enumerate(galaxies):
            parts = [self.prior.sample(N_PRIOR_CANDIDATES, galaxy.rng)[0]]
            if self.init is not None:
                mine = self.init[galaxy.index]
                parts.insert(0, mine[self.prior.in_support(mine)])
            candidates.append(np.concatenate(parts))
            n_candidates = candidates[-1].shape[0]
            owners.append(np.full(n_candidates, k))
            from_caller.append(np.arange(n_candidates) < n_candidates - N_PRIOR_CANDIDATES)
        candidate = np.concatenate(candidates)
        owner = np.concatenate(owners)
        given = np.concatenate(from_caller)
        z, flux, sigma = self.observations.rows(np.array([galaxies[k].index for k in owner]))
        unit, best_mass = self.evaluator.shape(candidate[:, 1:], z, flux, sigma)
        # The caller's draws keep their log-mass; prior draws take the best-fitting one.
        log_mass = np.where(given, candidate[:, 0], best_mass)
        box = np.concatenate([log_mass[:, None], candidate[:, 1:]], axis=1)
        lp, c2 = self.evaluator.log_prob(log_mass, candidate[:, 1:], unit, flux, sigma)
        sampling = self.evaluator.to_sampling(box, best_mass)
        # The walkers' target is the density in sampling coordinates.
        lp = self.evaluator.with_jacobian(lp, self.evaluator.box_logit(box))
        for k, galaxy in enumerate(galaxies):
            mine = np.flatnonzero(owner == k)
            chosen = mine[starting_walkers(candidate[mine], given[mine], lp[mine], n_walkers)]
            galaxy.x[:] = box[chosen]
            galaxy.y[:] = sampling[chosen]
            galaxy.lp[:] = lp[chosen]
            galaxy.chi2_min = float(np.min(c2[mine]))
            galaxy.n_evals = mine.size
            galaxy.charged = (time.perf_counter() - t0) / len(galaxies)
        return galaxies

    def step(self, galaxies: list[_Galaxy]) -> None:
        """One ensemble step of every galaxy (two half-steps, one model call each); the step's
        wall time is charged to the galaxies in proportion to their model evaluations."""
        t0 = time.perf_counter()
        variates = [galaxy.variates() for galaxy in galaxies]
        for galaxy in galaxies:
            galaxy.step_evals = 0
        for half in (0, 1):
            _mh_half(self.evaluator, self.observations, galaxies, variates, half, self.p_de,
                     self.config.independence_fraction)
        wall = time.perf_counter() - t0
        total = sum(galaxy.step_evals for galaxy in galaxies)
        for galaxy in galaxies:
            galaxy.record()
            galaxy.n_evals += galaxy.step_evals
            galaxy.charged += wall * galaxy.step_evals / max(total, 1)

    def capped(self, galaxy: _Galaxy) -> bool:
        """Whether a galaxy has reached its time or step cap."""
        return galaxy.charged >= self.config.max_seconds_per_galaxy or galaxy.n_steps >= self.config.max_steps

    def finish_galaxy(self, galaxy: _Galaxy, capped: bool) -> None:
        """Check a galaxy's convergence; store its result and mark it done when it has converged
        or is ``capped``, else schedule its next check."""
        t0 = time.perf_counter()
        cfg = self.config
        burn, tau, ess = _diagnose(galaxy)
        tau_max = float(np.max(tau))
        by_tau = ess >= cfg.target_ess and galaxy.n_steps - burn >= cfg.min_tau_multiple * tau_max
        # R̂ and bulk ESS cost ~0.3 s: under the τ rule only for the record at the end, under
        # the rank rule once the cheap τ ESS says the chain may be near
        last = capped or (cfg.convergence == "tau" and by_tau)
        rhat, ess_bulk = float("inf"), 0.0
        if last or (cfg.convergence == "rhat_ess" and ess >= 0.5 * cfg.min_bulk_ess):
            rhat, ess_bulk = rank_diagnostics(galaxy.stored_from(burn))
        by_rank = rhat < cfg.max_rhat and ess_bulk >= cfg.min_bulk_ess
        converged = by_tau if cfg.convergence == "tau" else by_rank
        if not converged and not capped:
            galaxy.next_check = galaxy.n_steps + max(_MIN_CHECK_STEP, galaxy.n_steps // 10)
            if cfg.independence_fraction > 0:
                # Refitted only here, at checks ~10 % of the chain apart: the adaptation
                # diminishes, and every kernel in between leaves the target invariant.
                galaxy.proposal = IndependenceProposal.fit(galaxy.recent_from(burn), cfg.independence_df,
                                                           cfg.independence_inflation) or galaxy.proposal
            galaxy.charged += time.perf_counter() - t0
            return
        # The chain is stored in float32: clip the (at most one-ulp) rounding back into the box.
        kept = np.clip(galaxy.stored_from(burn).reshape(-1, N_BOX).astype(np.float64),
                       self.prior.lower, self.prior.upper)
        row, results = galaxy.index, self.results
        results["samples"][row] = _thin(kept, cfg.n_keep)
        results["status"][row] = "mcmc" if converged else "unconverged"
        results["ess"][row], results["tau"][row], results["n_burn"][row] = ess, tau, burn
        results["n_steps"][row] = galaxy.n_steps
        results["ess_bulk"][row], results["rhat"][row] = ess_bulk, rhat
        results["accept_frac"][row] = galaxy.n_accepted / max(1, galaxy.n_steps * galaxy.n_walkers)
        results["n_evals"][row] = galaxy.n_evals
        results["chi2_min"][row] = galaxy.chi2_min
        results["wall_s"][row] = galaxy.charged + time.perf_counter() - t0
        galaxy.done = True

    def result(self) -> FallbackResult:
        """The results of every galaxy (all done once :func:`_run_batches` returns)."""
        return FallbackResult(seeds=self.seeds, n_walkers=self.config.n_walkers, **self.results)


def _run_batches(run: _FallbackRun, batch_galaxies: int) -> None:
    """Step the galaxies' ensembles, ``batch_galaxies`` at a time, refilling as galaxies finish."""
    waiting = list(range(run.n_galaxies))
    active: list[_Galaxy] = []
    while waiting or active:
        n_free = batch_galaxies - len(active)
        if n_free > 0 and waiting:
            active.extend(run.start_galaxies(waiting[:n_free]))
            del waiting[:n_free]
        run.step(active)
        for galaxy in active:
            capped = run.capped(galaxy)
            if capped or galaxy.n_steps >= galaxy.next_check:
                run.finish_galaxy(galaxy, capped)
        active = [galaxy for galaxy in active if not galaxy.done]


def run_fallback(model, flux_nmgy, sigma_nmgy, z, *, seeds, init=None, config: FallbackConfig | None = None,
                 prior: SEDPrior | None = None, n_walkers: int | None = None, max_seconds: float | None = None,
                 max_steps: int | None = None, target_ess: int | None = None, n_keep: int | None = None,
                 batch_galaxies: int = 16, p_de: float = 1.0) -> FallbackResult:
    """MCMC posteriors of G galaxies under the forward model, batched through ``model``.

    Args:
        model: a :class:`~sedflow_dask.sps.PROVABGSModel` (:func:`fallback_model` for
            batch-independent chains).
        flux_nmgy, sigma_nmgy: (G, 5) ugriz fluxes and 1σ errors [nanomaggies]
            (:func:`~sedflow_dask.fallback.fluxes_from_mags` converts magnitudes).
        z: (G,) redshifts, held fixed, 0 < z <= 0.2.
        seeds: (G,) uint64 galaxy seeds (:func:`sedflow_dask.posterior.galaxy_seeds` of the
            run seed and NSAIDs).
        init: optional (G, K, 11) box-space starting candidates (e.g. the flow's draws; NaN
            or out-of-box rows are ignored). Walkers start at the best W of these and
            ``N_PRIOR_CANDIDATES`` prior draws (each at its best-fitting log-mass).
        config: defaults for the options below (``FallbackConfig()`` if None).
        prior: the box prior (default ``SEDPrior()``).
        n_walkers, max_seconds (per galaxy, its charged share of wall time [s]), max_steps,
            target_ess, n_keep: override the config's fields of the same meaning.
        batch_galaxies: galaxies whose walkers share model calls.
        p_de: probability of a differential-evolution step (else a stretch step).

    Returns:
        :class:`FallbackResult`. Bad input rows (non-finite flux or σ <= 0, z outside
        (0, 0.2]) raise ValueError naming the row before any work; a galaxy never raises or
        runs past its time and step bounds.
    """
    cfg = config or FallbackConfig()
    fields = dict(n_walkers=n_walkers, max_seconds_per_galaxy=max_seconds, max_steps=max_steps,
                  target_ess=target_ess, n_keep=n_keep)
    overrides: dict[str, Any] = {name: value for name, value in fields.items() if value is not None}
    cfg = dataclasses.replace(cfg, **overrides)
    prior = prior or SEDPrior()
    flux, sigma, redshift = check_observations(flux_nmgy, sigma_nmgy, z, prior.z_max)
    n_galaxies = flux.shape[0]
    seeds = np.asarray(seeds, dtype=np.uint64).ravel()
    if seeds.shape != (n_galaxies,):
        raise ValueError(f"{seeds.size} seeds for {n_galaxies} galaxies")
    if init is not None:
        init = np.asarray(init, dtype=np.float64)
        if init.ndim != 3 or init.shape[0] != n_galaxies or init.shape[2] != N_BOX:
            raise ValueError(f"init must have shape (G={n_galaxies}, K, {N_BOX}); got {init.shape}")
    if batch_galaxies < 1 or not 0 <= p_de <= 1:
        raise ValueError("batch_galaxies must be >= 1 and 0 <= p_de <= 1")

    run = _FallbackRun(cfg, _Evaluator(model, prior), _Observations(flux=flux, sigma=sigma, z=redshift),
                       seeds, init, p_de)
    with _one_torch_thread():
        _run_batches(run, batch_galaxies)
    return run.result()
