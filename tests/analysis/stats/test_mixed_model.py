"""The random-intercept REML fit against statsmodels' MixedLM and a balanced-design identity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.regression.mixed_linear_model import MixedLMParams

from analysis.stats.mixed_model import group_mixed_model, random_intercept_model


def unbalanced_data(seed: int, n_participants: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_participants):
        group = "abc"[p % 3]
        intercept = rng.normal(0, 0.6)
        for _ in range(rng.integers(3, 9)):
            effect = {"a": 0.0, "b": 0.4, "c": -0.2}[group]
            rows.append({"p": p, "g": group, "y": 1 + effect + intercept + rng.normal()})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [1, 2])
def test_it_matches_statsmodels_mixedlm(seed):
    data = unbalanced_data(seed)
    ours = group_mixed_model(data.y, data.g, data.p, order=["a", "b", "c"])
    model = smf.mixedlm("y ~ C(g)", data, groups=data.p)
    # Powell reaches the optimum reliably here; the default gradient method can stop early.
    reference = model.fit(reml=True, method="powell", maxiter=5000)
    assert ours.coefficients["estimate"].to_numpy() == pytest.approx(
        reference.fe_params.to_numpy(), abs=1e-5
    )
    # statsmodels takes standard errors from the numerical Hessian of all parameters, so
    # they agree to its optimiser's precision; the exact formula is checked below.
    assert ours.coefficients["se"].to_numpy() == pytest.approx(
        reference.bse_fe.to_numpy(), rel=5e-3
    )
    assert ours.residual_variance == pytest.approx(reference.scale, rel=1e-4)
    assert ours.group_variance == pytest.approx(float(reference.cov_re.iloc[0, 0]), rel=1e-3)
    # statsmodels' own REML log-likelihood at our estimates equals ours, and is not below
    # the one at its optimum.
    gamma = ours.group_variance / ours.residual_variance
    params = MixedLMParams.from_components(
        fe_params=ours.coefficients["estimate"].to_numpy(), cov_re=np.array([[gamma]])
    )
    assert model.loglike(params, profile_fe=False) == pytest.approx(ours.log_likelihood, abs=1e-6)
    assert ours.log_likelihood >= reference.llf - 1e-6


def test_standard_errors_are_the_gls_formula_with_dense_matrices():
    data = unbalanced_data(5, n_participants=24)
    fit = group_mixed_model(data.y, data.g, data.p, order=["a", "b", "c"])
    x = np.column_stack([np.ones(len(data)), data.g == "b", data.g == "c"]).astype(float)
    same = (data.p.to_numpy()[:, None] == data.p.to_numpy()[None, :]).astype(float)
    v = fit.residual_variance * np.eye(len(data)) + fit.group_variance * same
    v_inverse = np.linalg.inv(v)
    covariance = np.linalg.inv(x.T @ v_inverse @ x)
    beta = covariance @ x.T @ v_inverse @ data.y.to_numpy()
    assert fit.coefficients["estimate"].to_numpy() == pytest.approx(beta, abs=1e-10)
    assert fit.coefficients["se"].to_numpy() == pytest.approx(
        np.sqrt(np.diag(covariance)), rel=1e-9
    )


def test_balanced_effects_equal_differences_of_group_means():
    # In a balanced design the GLS estimates of the group effects are the OLS ones.
    rng = np.random.default_rng(3)
    participants = np.repeat(np.arange(30), 15)
    group = np.array(["nmf", "kmeans", "pca"])[participants % 3]
    y = (rng.random(participants.size) < np.where(group == "pca", 0.4, 0.7)).astype(float)
    fit = group_mixed_model(y, group, participants, order=["nmf", "kmeans", "pca"])
    means = pd.Series(y).groupby(group).mean()
    estimates = fit.coefficients.set_index("term")["estimate"]
    assert estimates["Intercept"] == pytest.approx(means["nmf"], abs=1e-10)
    assert estimates["pca vs nmf"] == pytest.approx(means["pca"] - means["nmf"], abs=1e-10)
    assert fit.n_groups == 30 and fit.n_observations == 450
    assert 0 <= fit.wald_p <= 1 and fit.wald_df == 2


def test_it_keeps_the_boundary_when_participants_do_not_differ():
    # Identical participant means: the REML optimum is tau^2 = 0 and the fit is OLS.
    y = np.tile([0.0, 1.0, 1.0, 0.0], 10)
    groups = np.repeat(np.arange(10), 4)
    design = pd.DataFrame({"Intercept": np.ones(40)})
    fit = random_intercept_model(y, design, groups)
    assert fit.group_variance == 0.0
    assert fit.residual_variance == pytest.approx(np.var(y, ddof=1))


def test_it_refuses_a_rank_deficient_design():
    design = pd.DataFrame({"Intercept": np.ones(6), "copy": np.ones(6)})
    with pytest.raises(ValueError, match="full column rank"):
        random_intercept_model(np.arange(6.0), design, [1, 1, 2, 2, 3, 3])
    with pytest.raises(ValueError, match="no variance left"):
        group_mixed_model(np.ones(40), np.repeat(["a", "b"], 20), np.repeat(np.arange(8), 5))
    with pytest.raises(ValueError, match="at least two groups"):
        group_mixed_model([1.0, 0.0], ["a", "a"], [1, 2])
