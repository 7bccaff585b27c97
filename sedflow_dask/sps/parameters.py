"""The two parameter spaces of the PROVABGS model and exact maps between them.

Physical space (12 numbers, ``sps-model.md`` §1.1, order normative)::

    log_mstar [log10 M_sun formed], beta1..beta4 (SFH basis coefficients, sum 1),
    fburst, tburst [Gyr lookback], gamma1, gamma2 (ZH coefficients),
    tau_bc, tau_ism (optical depths at 5500 Å), n_dust (diffuse slope offset)

Box space (11 numbers, §1.2): the space SEDflow trains and samples in, a box-uniform prior::

    log_mstar, u1, u2, u3 (stick-breaking of beta), fburst, tburst [Gyr],
    log10 gamma1, log10 gamma2, tau_bc, tau_ism, n_dust
"""

from __future__ import annotations

import numpy as np

PHYSICAL_NAMES: tuple[str, ...] = (
    "log_mstar", "beta1", "beta2", "beta3", "beta4", "fburst", "tburst",
    "gamma1", "gamma2", "tau_bc", "tau_ism", "n_dust",
)
BOX_NAMES: tuple[str, ...] = (
    "log_mstar", "u1", "u2", "u3", "fburst", "tburst",
    "log_gamma1", "log_gamma2", "tau_bc", "tau_ism", "n_dust",
)
N_PHYSICAL = len(PHYSICAL_NAMES)
N_BOX = len(BOX_NAMES)

_LOG_GAMMA_LO = float(np.log10(4.5e-5))
_LOG_GAMMA_HI = float(np.log10(1.5e-2))
BOX_LOWER = np.array([7.0, 0, 0, 0, 0, 0.01, _LOG_GAMMA_LO, _LOG_GAMMA_LO, 0, 0, -2.0])
BOX_UPPER = np.array([12.5, 1, 1, 1, 1, 13.27, _LOG_GAMMA_HI, _LOG_GAMMA_HI, 3, 3, 1.0])
BOX_LOWER.flags.writeable = False
BOX_UPPER.flags.writeable = False

# Floating-point slack for "inside the box" and "beta on the simplex": values written to
# float32 Parquet and read back must still pass.
_BOX_TOL = 1e-6
_SIMPLEX_TOL = 1e-6


def as_parameter_array(theta, n_columns: int, name: str = "theta") -> np.ndarray:
    """Return ``theta`` as a float64 (N, n_columns) array, or raise ValueError naming the problem.

    A single vector of length ``n_columns`` is promoted to shape (1, n_columns).
    """
    arr = np.asarray(theta, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == n_columns:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n_columns:
        raise ValueError(f"{name} must have shape (N, {n_columns}); got {np.shape(theta)}")
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} contains non-finite values ({int(bad.sum())} entries); "
            f"first at row {row}, column {col}"
        )
    return arr


def check_in_box(theta_box: np.ndarray, name: str = "theta_box") -> None:
    """Raise ValueError naming the first parameter outside the prior box."""
    low = theta_box < BOX_LOWER - _BOX_TOL
    high = theta_box > BOX_UPPER + _BOX_TOL
    out = low | high
    if out.any():
        row, col = np.argwhere(out)[0]
        raise ValueError(
            f"{name} row {row}: {BOX_NAMES[col]} = {float(theta_box[row, col])!r} is outside the prior box "
            f"[{BOX_LOWER[col]}, {BOX_UPPER[col]}] ({int(out.any(axis=1).sum())} rows out of bounds)"
        )


def betas_from_sticks(u: np.ndarray) -> np.ndarray:
    """Stick-breaking map (u1, u2, u3) in [0, 1]^3 -> (beta1..beta4) on the simplex (§1.3)."""
    u1, u2, u3 = u[..., 0], u[..., 1], u[..., 2]
    return np.stack([1 - u1, u1 * (1 - u2), u1 * u2 * (1 - u3), u1 * u2 * u3], axis=-1)


def sticks_from_betas(beta: np.ndarray) -> np.ndarray:
    """Inverse stick-breaking (beta1..beta4) -> (u1, u2, u3).

    At the singular points (u1 = 0 or u1*u2 = 0) every later u maps to the same beta; 0 is
    returned there so that beta -> u -> beta is exact.
    """
    b1, b2, b3 = beta[..., 0], beta[..., 1], beta[..., 2]
    u1 = 1 - b1
    rest12 = 1 - b1 - b2
    with np.errstate(divide="ignore", invalid="ignore"):
        u2 = np.where(u1 > 0, 1 - b2 / np.where(u1 > 0, u1, 1.0), 0.0)
        u3 = np.where(rest12 > 0, 1 - b3 / np.where(rest12 > 0, rest12, 1.0), 0.0)
    return np.clip(np.stack([u1, u2, u3], axis=-1), 0.0, 1.0)


def box_to_physical(theta_box, *, validate: bool = True) -> np.ndarray:
    """Map (N, 11) box-space parameters to (N, 12) physical parameters (exact)."""
    tb = as_parameter_array(theta_box, N_BOX, "theta_box")
    if validate:
        check_in_box(tb)
    out = np.empty((tb.shape[0], N_PHYSICAL))
    out[:, 0] = tb[:, 0]
    out[:, 1:5] = betas_from_sticks(tb[:, 1:4])
    out[:, 5] = tb[:, 4]
    out[:, 6] = tb[:, 5]
    out[:, 7:9] = 10.0 ** tb[:, 6:8]
    out[:, 9:12] = tb[:, 8:11]
    return out


def physical_to_box(theta, *, validate: bool = True) -> np.ndarray:
    """Map (N, 12) physical parameters to (N, 11) box-space parameters (exact)."""
    th = as_parameter_array(theta, N_PHYSICAL, "theta")
    if validate:
        check_physical(th)
    out = np.empty((th.shape[0], N_BOX))
    out[:, 0] = th[:, 0]
    out[:, 1:4] = sticks_from_betas(th[:, 1:5])
    out[:, 4] = th[:, 5]
    out[:, 5] = th[:, 6]
    out[:, 6:8] = np.log10(th[:, 7:9])
    out[:, 8:11] = th[:, 9:12]
    if validate:
        check_in_box(out, "theta (mapped to the box space)")
    return out


def check_physical(theta: np.ndarray, name: str = "theta") -> None:
    """Raise ValueError if the betas are off the simplex or a gamma is not positive."""
    beta = theta[:, 1:5]
    neg = beta < -_SIMPLEX_TOL
    if neg.any():
        row, col = np.argwhere(neg)[0]
        raise ValueError(f"{name} row {row}: {PHYSICAL_NAMES[1 + col]} = {float(beta[row, col])!r} < 0")
    off = np.abs(beta.sum(axis=1) - 1) > _SIMPLEX_TOL
    if off.any():
        row = int(np.argmax(off))
        raise ValueError(
            f"{name} row {row}: beta1..beta4 sum to {float(beta[row].sum())!r}, not 1 "
            f"({int(off.sum())} rows off the simplex)"
        )
    gam = theta[:, 7:9] <= 0
    if gam.any():
        row, col = np.argwhere(gam)[0]
        raise ValueError(f"{name} row {row}: {PHYSICAL_NAMES[7 + col]} must be > 0")


def check_physical_in_prior(theta: np.ndarray, name: str = "theta") -> None:
    """Validate physical parameters against the simplex and the prior box (via the box map)."""
    check_physical(theta, name)
    check_in_box(physical_to_box(theta, validate=False), name)


def draw_box_prior(n: int, rng: np.random.Generator, z_range: tuple[float, float] = (1e-4, 0.2),
                   simplex: str = "uniform_sticks") -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` galaxies from SEDflow's prior: (theta_box (n, 11), z (n,)).

    z is uniform on (z_lo, z_hi] (the prior's U(0, 0.2] floored at 1e-4, §1.4). ``simplex``
    (D1): "uniform_sticks" draws u1, u2, u3 ~ U(0, 1) as PROVABGS and SEDflow do (which favours
    the youngest SFH basis, E[beta] = (1/2, 1/4, 1/8, 1/8)); "flat_dirichlet" gives a flat
    Dirichlet(1, 1, 1, 1) on beta (u1 ~ Beta(3, 1), u2 ~ Beta(2, 1), u3 ~ U(0, 1)).
    """
    theta = rng.uniform(BOX_LOWER, BOX_UPPER, size=(n, N_BOX))
    if simplex == "flat_dirichlet":
        theta[:, 1] = rng.beta(3.0, 1.0, n)
        theta[:, 2] = rng.beta(2.0, 1.0, n)
    elif simplex != "uniform_sticks":
        raise ValueError(f"simplex must be 'uniform_sticks' or 'flat_dirichlet', not {simplex!r}")
    z_lo, z_hi = z_range
    z = z_hi - (z_hi - z_lo) * rng.random(n)
    return theta, z
