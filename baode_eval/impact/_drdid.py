"""Two-period panel DiD for the ATT with influence functions (pure numpy).

``att_unconditional`` — difference of weighted mean changes (Callaway & Sant'Anna 2021, eq. 2.3
without covariates). ``att_dr_panel`` — the locally efficient doubly robust estimator of
Sant'Anna & Zhao (2020, J. Econometrics 219(1), section 3.1, "traditional" DR with a logit
propensity score fitted by maximum likelihood and a linear outcome model for the comparison
group's change), following R ``DRDID::drdid_panel``. ``att_ipw_panel`` — Abadie (2005) IPW with
normalised (Hájek) weights, as ``DRDID::std_ipw_did_panel``.

Each returns ``(att, influence)``: ``influence`` has one entry per unit, with mean zero, so that
``sqrt(mean(influence**2) / n)`` is the analytic standard error.
"""
from __future__ import annotations

import numpy as np

PS_TRIM = 1e-6


def logit_fit(d: np.ndarray, x: np.ndarray, w: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10):
    """Weighted logistic regression by Newton–Raphson; returns (coef, fitted p, inverse Hessian)."""
    beta = np.zeros(x.shape[1])
    p_bar = np.clip(np.average(d, weights=w), 1e-6, 1 - 1e-6)
    beta[0] = np.log(p_bar / (1 - p_bar)) if np.allclose(x[:, 0], 1) else 0.0
    def loglik(b):
        eta = x @ b
        return float(np.sum(w * (d * eta - np.logaddexp(0.0, eta))))

    current = loglik(beta)
    for _ in range(max_iter):
        eta = np.clip(x @ beta, -35, 35)
        p = 1.0 / (1.0 + np.exp(-eta))
        grad = x.T @ (w * (d - p))
        hess = (x * (w * p * (1 - p))[:, None]).T @ x
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        # step halving keeps Newton from overshooting when covariates are badly scaled
        for _half in range(60):
            trial = loglik(beta + step)
            if trial >= current - 1e-12 * abs(current):
                break
            step = step / 2
        beta = beta + step
        improvement = trial - current
        current = trial
        if np.max(np.abs(step)) < tol or abs(improvement) < 1e-14 * max(1.0, abs(current)):
            break
    eta = np.clip(x @ beta, -35, 35)
    p = 1.0 / (1.0 + np.exp(-eta))
    hess = (x * (w * p * (1 - p))[:, None]).T @ x
    return beta, p, np.linalg.inv(hess)


def att_unconditional(dy: np.ndarray, d: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """ATT = weighted mean change of the treated minus that of the comparison units."""
    wt, wc = w * d, w * (1 - d)
    mt, mc = wt.mean(), wc.mean()
    mu1 = float((wt * dy).sum() / wt.sum())
    mu0 = float((wc * dy).sum() / wc.sum())
    inf = wt * (dy - mu1) / mt - wc * (dy - mu0) / mc
    return mu1 - mu0, inf


def att_dr_panel(dy: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Sant'Anna & Zhao (2020) locally efficient DR DiD for panel data (``drdid_panel``).

    ``x`` must include the intercept column. Weights are normalised to mean one.
    """
    n = len(dy)
    w = w / w.mean()
    _, ps, inv_hess = logit_fit(d, x, w)
    ps = np.minimum(ps, 1 - PS_TRIM)
    hessian_ps = inv_hess * n
    wc_ols = w * (1 - d)
    xtx = (x * wc_ols[:, None]).T @ x
    coef = np.linalg.solve(xtx, (x * wc_ols[:, None]).T @ dy)
    out_delta = x @ coef
    w_treat = w * d
    w_cont = w * ps * (1 - d) / (1 - ps)
    att_treat = w_treat * (dy - out_delta)
    att_cont = w_cont * (dy - out_delta)
    eta_treat = att_treat.mean() / w_treat.mean()
    eta_cont = att_cont.mean() / w_cont.mean()
    att = eta_treat - eta_cont
    # influence function (drdid_panel.R)
    xpx_inv = np.linalg.inv(xtx / n)
    lin_wols = (wc_ols * (dy - out_delta))[:, None] * x @ xpx_inv
    lin_ps = (w * (d - ps))[:, None] * x @ hessian_ps
    inf_treat = (att_treat - w_treat * eta_treat - lin_wols @ (w_treat[:, None] * x).mean(axis=0)) / w_treat.mean()
    m2 = ((w_cont * (dy - out_delta - eta_cont))[:, None] * x).mean(axis=0)
    m3 = (w_cont[:, None] * x).mean(axis=0)
    inf_cont = (att_cont - w_cont * eta_cont + lin_ps @ m2 - lin_wols @ m3) / w_cont.mean()
    return float(att), inf_treat - inf_cont


def att_ipw_panel(dy: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Abadie (2005) IPW DiD with normalised weights (``DRDID::std_ipw_did_panel``)."""
    n = len(dy)
    w = w / w.mean()
    _, ps, inv_hess = logit_fit(d, x, w)
    ps = np.minimum(ps, 1 - PS_TRIM)
    w_treat = w * d
    w_cont = w * ps * (1 - d) / (1 - ps)
    att_treat = w_treat * dy
    att_cont = w_cont * dy
    eta_treat = att_treat.mean() / w_treat.mean()
    eta_cont = att_cont.mean() / w_cont.mean()
    lin_ps = (w * (d - ps))[:, None] * x @ (inv_hess * n)
    inf_treat = (att_treat - w_treat * eta_treat) / w_treat.mean()
    inf_cont_1 = att_cont - w_cont * eta_cont
    m2 = ((w_cont * (dy - eta_cont))[:, None] * x).mean(axis=0)
    inf_cont = (inf_cont_1 + lin_ps @ m2) / w_cont.mean()
    return float(eta_treat - eta_cont), inf_treat - inf_cont


def ipt_fit(d: np.ndarray, x: np.ndarray, w: np.ndarray, *, max_iter: int = 200, tol: float = 1e-10) -> np.ndarray:
    """Inverse probability tilting (Graham, Pinto & Egel 2012) for the ATT, as ``DRDID::pscore.cal``.

    Minimises mean(w * (-(d * x'g) + (1 - d) * exp(x'g))); at the optimum the comparison units'
    odds weights exp(x'g) reproduce the treated units' covariate totals exactly. Returns the fitted
    propensity score 1 / (1 + exp(-x'g)). Started at the logit estimate; Newton with step halving.
    """
    n = len(d)
    gam, _, _ = logit_fit(d, x, w)

    def loss(g):
        eta = np.clip(x @ g, -500, 500)
        return float(np.mean(w * np.where(d == 1, -eta, np.exp(eta))))

    current = loss(gam)
    for _ in range(max_iter):
        eta = np.clip(x @ gam, -500, 500)
        e = np.exp(eta)
        grad = (x * (w * np.where(d == 1, -1.0, e))[:, None]).mean(axis=0)
        hess = (x * (w * np.where(d == 1, 0.0, e))[:, None]).T @ x / n
        step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
        for _half in range(60):
            trial = loss(gam + step)
            if trial <= current + 1e-14 * abs(current):
                break
            step = step / 2
        gam = gam + step
        done = abs(current - trial) < 1e-15 * max(1.0, abs(current)) or np.max(np.abs(step)) < tol
        current = trial
        if done:
            break
    return 1.0 / (1.0 + np.exp(-np.clip(x @ gam, -500, 500)))


def att_dr_imp_panel(dy: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Sant'Anna & Zhao (2020) "further improved" DR DiD (``DRDID::drdid_imp_panel``): IPT
    propensity score and a weighted least-squares outcome model, so that the estimation effects
    vanish from the influence function."""
    w = w / w.mean()
    ps = np.minimum(ipt_fit(d, x, w), 1 - PS_TRIM)
    wols = w * (1 - d) * ps / (1 - ps)
    coef = np.linalg.lstsq((x * np.sqrt(wols)[:, None]), dy * np.sqrt(wols), rcond=None)[0]
    out_delta = x @ coef
    w_treat = w * d
    w_cont = w * ps * (1 - d) / (1 - ps)
    att_treat = w_treat * (dy - out_delta)
    att_cont = w_cont * (dy - out_delta)
    eta_treat = att_treat.mean() / w_treat.mean()
    eta_cont = att_cont.mean() / w_cont.mean()
    inf = (att_treat - w_treat * eta_treat) / w_treat.mean() - (att_cont - w_cont * eta_cont) / w_cont.mean()
    return float(eta_treat - eta_cont), inf
