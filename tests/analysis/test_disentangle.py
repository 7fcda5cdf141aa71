"""Grouped VAE with the adversarial MI term (Németh 2020): pooling, batching, probes, training, CLI."""
from __future__ import annotations

import json
import numpy as np
import pytest
import torch

from edgewise.analysis.disentangle import (
    GroupVAE,
    VaeConfig,
    compare,
    extra_error_share,
    fit_group_vae,
    GroupSampler,
    group_batches,
    grouped_beats,
    grouped_digits,
    heldout_reconstruction,
    probe_accuracy,
    reconstruction_errors,
    training_cost,
    validation_folds,
    validation_split,
)
from edgewise.analysis.disentangle._vae import (
    StyleGroupCritic,
    StylePairCritic,
    _adversarial_term,
    _FilmMLP,
    _positive_logp,
    _standardise_batch,
    augment,
    foreign_members,
)


def test_pool_is_the_product_of_gaussians():
    rng = np.random.default_rng(0)
    mu, lv = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4, 5))
    gmu, glv = GroupVAE.pool(torch.as_tensor(mu), torch.as_tensor(lv))
    prec = np.exp(-lv)
    var = 1 / prec.sum(1)  # closed form: precisions add, means are precision-weighted
    np.testing.assert_allclose(glv.numpy(), np.log(var), rtol=1e-12)
    np.testing.assert_allclose(gmu.numpy(), (mu * prec).sum(1) * var, rtol=1e-12)


def test_group_batches_hold_distinct_groups_of_one_group_each():
    groups = np.repeat(np.arange(6), [10, 10, 10, 10, 10, 3])
    cfg = VaeConfig(group_size=4, groups_per_batch=5)
    batches = group_batches(groups, cfg, np.random.default_rng(0))
    assert len(batches) == 3  # ceil(53 / (5 * 4))
    for b in batches:
        assert b.shape == (5, 4)
        ids = groups[b]
        assert (ids == ids[:, :1]).all()  # each row inside one group
        assert len(set(ids[:, 0])) == 5  # distinct groups per batch
    with pytest.raises(ValueError, match=">= 2 groups"):
        group_batches(np.zeros(10, int), cfg, np.random.default_rng(0))


def test_group_sampler_draws_members_without_replacement_and_evenly():
    groups = np.repeat(np.arange(6), [10, 10, 10, 10, 10, 3])
    groups = np.concatenate([groups, [6]])  # a singleton group is never drawn
    sampler = GroupSampler(groups, VaeConfig(group_size=4, groups_per_batch=5))
    draws = sampler.draw(np.random.default_rng(1), 4000)  # [4000, 5, 4]
    ids = groups[draws]
    assert (ids == ids[..., :1]).all() and 6 not in ids
    small = ids[..., 0] == 5
    big = draws[~small]
    assert all(len(set(row)) == 4 for row in big[:500])  # 10 members: 4 distinct
    assert np.isin(draws[small], np.flatnonzero(groups == 5)).all()  # 3 members: drawn with replacement
    # every group picked ~5/6 of the batches, every member of a 10-member group ~4/10 of its rows
    picked = np.bincount(ids[..., 0].ravel(), minlength=6) / 4000
    np.testing.assert_allclose(picked, 5 / 6, atol=0.03)
    counts = np.bincount(draws[ids == 0].ravel(), minlength=10)[:10] / (picked[0] * 4000)
    np.testing.assert_allclose(counts, 0.4, atol=0.03)


def test_probe_accuracy_sees_leakage_and_chance():
    rng = np.random.default_rng(0)
    g = rng.integers(0, 5, 1000)
    leaky = np.eye(5)[g] + 0.1 * rng.normal(size=(1000, 5))
    clean = rng.normal(size=(1000, 5))
    assert probe_accuracy(leaky[:700], g[:700], leaky[700:], g[700:], kind="mlp") > 0.95
    assert probe_accuracy(clean[:700], g[:700], clean[700:], g[700:], kind="linear") < 0.3  # chance ~0.2
    with pytest.raises(ValueError, match="probe kind"):
        probe_accuracy(clean, g, clean, g, kind="svm")


def test_config_validation_names_the_bad_value():
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        VaeConfig(group_size=1)
    with pytest.raises(ValueError, match="adversary must be"):
        VaeConfig(adversary="gan")
    with pytest.raises(ValueError, match="critic_input must be"):
        VaeConfig(critic_input="logits")


@pytest.mark.parametrize("adversary", ["classifier", "contrastive", "pairs"])
def test_training_runs_and_reconstruction_matches_manual(adversary):
    data = grouped_digits()
    cfg = VaeConfig(epochs=3, hidden=64, adv_weight=1.0, adversary=adversary, group_size=4, groups_per_batch=10)
    vae, hist = fit_group_vae(data.x_train, data.g_train, cfg)
    assert len(hist) == 3 and all(np.isfinite(list(h.values())).all() for h in hist)
    assert hist[-1]["nll"] < hist[0]["nll"]
    # held-out MSE equals a direct computation over the same chunks
    x, g = data.x_test[:40], data.g_test[:40]
    mse = heldout_reconstruction(vae, x, g, group_size=4)
    err, n = 0.0, 0
    with torch.no_grad():
        for grp in np.unique(g):
            idx = np.flatnonzero(g == grp)
            for s in range(0, len(idx), 4):
                chunk = torch.as_tensor(x[idx[s : s + 4]])[None]
                err += float((vae(chunk, sample=False)["recon"] - chunk).pow(2).sum())
                n += chunk.numel()
    np.testing.assert_allclose(mse, err / n, rtol=1e-6)


def test_film_mlp_splits_condition_and_starts_as_the_plain_map():
    torch.manual_seed(0)
    net = _FilmMLP(5, 3, 16, 2, cond_first=True)
    x, c = torch.randn(4, 5), torch.randn(4, 3)
    # zero-initialised FiLM: at start the output does not depend on the condition
    ref = net.out(torch.relu(net.l2(torch.relu(net.l1(x)))))
    np.testing.assert_allclose(net(torch.cat([c, x], -1)).detach(), ref.detach(), rtol=1e-6)
    torch.nn.init.normal_(net.film.weight)
    g1, b1, g2, b2 = net.film(c).chunk(4, -1)
    h = torch.relu(net.l2(torch.relu(net.l1(x) * (1 + g1) + b1)) * (1 + g2) + b2)
    np.testing.assert_allclose(net(torch.cat([c, x], -1)).detach(), net.out(h).detach(), rtol=1e-6)
    after = _FilmMLP(5, 3, 16, 2, cond_first=False)
    after.load_state_dict(net.state_dict())
    np.testing.assert_allclose(after(torch.cat([x, c], -1)).detach(), net(torch.cat([c, x], -1)).detach(), rtol=1e-6)


def test_critic_input_is_scale_free():
    rng = np.random.default_rng(0)
    s = torch.as_tensor(rng.normal(size=(50, 4)) * [1.0, 1e-3, 5.0, 0.1])
    z = _standardise_batch(s).numpy()
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(z.std(0, ddof=1), s.std(0).numpy() / (s.std(0).numpy() + 1e-3), rtol=1e-9)
    # a dimension shrunk 10x looks the same to the critic, up to the 1e-3 floor on the std
    np.testing.assert_allclose(_standardise_batch(s * 0.1)[:, 0], _standardise_batch(s)[:, 0], rtol=1.2e-2)


def test_validation_split_is_carved_from_training_only():
    data = grouped_digits()
    val = validation_split(data, 0.3)
    assert len(val.x_train) + len(val.x_test) == len(data.x_train)
    for g in np.unique(data.g_train):
        n = int((data.g_train == g).sum())
        assert int((val.g_test == g).sum()) == int(n * 0.3 + 1e-9)
    rows = {r.tobytes() for r in data.x_train}
    assert all(r.tobytes() in rows for r in val.x_test)  # no held-out observation leaks into validation
    with pytest.raises(ValueError, match="fraction"):
        validation_split(data, 1.0)


def test_plain_version_does_not_depend_on_critic_settings():
    data = grouped_digits()
    x, g = data.x_train[:300], data.g_train[:300]
    a, _ = fit_group_vae(x, g, VaeConfig(epochs=1, hidden=32, critic_hidden=16, group_size=4, groups_per_batch=5))
    b, _ = fit_group_vae(x, g, VaeConfig(epochs=1, hidden=32, critic_hidden=64, group_size=4, groups_per_batch=5))
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().numpy(), rtol=0, atol=0)


def test_compare_needs_an_adversarial_weight():
    with pytest.raises(ValueError, match="adv_weight > 0"):
        compare(grouped_digits(), VaeConfig(adv_weight=0.0))


def test_training_cost_is_the_training_split_ratio_of_compare():
    data = grouped_digits()
    data = type(data)(data.name, data.x_train[:300], data.g_train[:300], data.x_test[:100], data.g_test[:100],
                      data.mean, data.std, data.image_shape)
    cfg = VaeConfig(epochs=2, hidden=32, critic_hidden=16, critic_steps=2, adv_weight=1.0, group_size=4,
                    groups_per_batch=5)
    comp, models = compare(data, cfg)
    mse = [heldout_reconstruction(models[k], data.x_train, data.g_train, group_size=4)
           for k in ("plain", "adversarial")]
    np.testing.assert_allclose(comp.train_recon_ratio, mse[1] / mse[0], rtol=1e-6)
    # validation's cost trains the same pair on the same training part, without touching the held-out part
    np.testing.assert_allclose(training_cost(data, cfg), comp.train_recon_ratio, rtol=1e-6)
    assert comp.summary()["train_recon_ratio"] == round(comp.train_recon_ratio, 4)


def test_grouped_beats_split_every_subject(ludb_dir):
    data = grouped_beats(ludb_dir, max_records=4)
    assert data.x_train.shape[1] == 70 and data.x_test.shape[1] == 70  # 0.7 s at 100 Hz
    np.testing.assert_array_equal(np.unique(data.g_train), np.unique(data.g_test))
    np.testing.assert_allclose(data.x_train.mean(0), 0, atol=1e-4)  # standardised on the training split


def test_cli_disentangle_reports_both_versions_side_by_side(capsys, tmp_path):
    from edgewise.cli import main

    assert main(["analyze", "disentangle", "--data", "digits", "--epochs", "2", "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= out["style_acc_plain"] <= 1 and 0 <= out["style_acc_adversarial"] <= 1
    data = grouped_digits()
    np.testing.assert_allclose(out["chance"], np.bincount(data.g_test).max() / len(data.g_test), atol=1e-4)
    np.testing.assert_allclose(out["recon_ratio"], out["recon_mse_adversarial"] / out["recon_mse_plain"], rtol=1e-3)
    gap = (out["style_acc_plain"] - out["style_acc_adversarial"]) / (out["style_acc_plain"] - out["chance"])
    np.testing.assert_allclose(out["gap_closed"], gap, atol=1e-3)
    report = (tmp_path / "report.md").read_text()
    assert "plain" in report and "adversarial" in report and (tmp_path / "swaps.png").stat().st_size > 1000
    assert (tmp_path / "cost_by_group.png").stat().st_size > 1000 and "costliest groups carry" in report


def test_cli_style_dim_and_foreign_set_both_versions(capsys, monkeypatch):
    import edgewise.analysis.disentangle._compare as cmp
    from edgewise.cli import main

    seen = []
    fit = cmp.fit_group_vae

    def spy(x, g, config, **kw):
        seen.append((config.adv_weight, config.style_dim, config.augment_foreign))
        return fit(x, g, config, **kw)

    monkeypatch.setattr(cmp, "fit_group_vae", spy)
    assert main(["analyze", "disentangle", "--epochs", "1", "--style-dim", "5", "--foreign", "0.1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["style_dim"] == 5 and out["augment_foreign"] == 0.1
    # plain and adversarial alike
    assert sorted(seen) == [(0.0, 5, 0.1), (cmp.DEFAULTS["digits"].adv_weight, 5, 0.1)]
    seen.clear()
    assert main(["analyze", "disentangle", "--epochs", "1", "--json"]) == 0
    assert {f for *_, f in seen} == {cmp.DEFAULTS["digits"].augment_foreign}  # the dataset's default otherwise


def test_new_options_are_validated_and_off_by_default():
    for kw, msg in [({"critic_dropout": 1.0}, "critic_dropout"), ({"critic_noise": -0.1}, "critic_noise"),
                    ({"augment_shift": -1}, "augment_shift"), ({"decoder_std": "group"}, "decoder_std")]:
        with pytest.raises(ValueError, match=msg):
            VaeConfig(**kw)
    x = torch.randn(3, 4, 70)
    assert augment(x, VaeConfig()) is x  # no augmentation unless asked for


def test_augment_scales_offsets_and_shifts_each_observation():
    x = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 3, 10)
    cfg = VaeConfig(augment_scale=0.2, augment_offset=0.5, augment_shift=2)
    torch.manual_seed(0)
    out = augment(x, cfg)
    torch.manual_seed(0)  # the same draws, applied by hand
    j = torch.randint(-2, 3, (2, 3, 1))
    scale, offset = 1 + 0.2 * (2 * torch.rand(2, 3, 1) - 1), 0.5 * (2 * torch.rand(2, 3, 1) - 1)
    ref = np.empty((2, 3, 10), np.float32)
    for a in range(2):
        for b in range(3):
            idx = np.clip(np.arange(10) - int(j[a, b, 0]), 0, 9)  # shifted, edges repeated
            ref[a, b] = x[a, b].numpy()[idx] * float(scale[a, b, 0]) + float(offset[a, b, 0])
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)
    assert (scale - 1).abs().max() <= 0.2 and offset.abs().max() <= 0.5


def test_content_decoder_std_is_the_gaussian_nll_with_a_per_group_scale():
    torch.manual_seed(0)
    cfg = VaeConfig(hidden=16, content_dim=3, style_dim=2, decoder_std="content", recon_std=0.25)
    vae = GroupVAE(6, cfg)
    torch.nn.init.normal_(vae.log_std.weight, std=0.3)
    xg = torch.randn(4, 5, 6)
    out = vae(xg, sample=False)
    log_std = vae.log_std(out["content"]).detach().numpy()[:, None]  # [G, 1, dim], std = 0.25 * exp(log_std)
    std = 0.25 * np.exp(log_std)
    r, x = out["recon"].detach().numpy(), xg.numpy()
    # Gaussian NLL up to the constant, relative to the fixed-std model's normaliser
    ref = (0.5 * ((r - x) / std) ** 2 + log_std).sum(-1).mean()
    np.testing.assert_allclose(float(out["nll"].detach()), ref, rtol=1e-5)
    with torch.no_grad():  # at initialisation it is the fixed-std model
        vae.log_std.weight.zero_()
        fixed = GroupVAE(6, VaeConfig(hidden=16, content_dim=3, style_dim=2))
        fixed.load_state_dict({k: v for k, v in vae.state_dict().items() if not k.startswith("log_std")})
        np.testing.assert_allclose(float(vae(xg, sample=False)["nll"]), float(fixed(xg, sample=False)["nll"]),
                                   rtol=1e-6)


def test_regularised_critic_gets_weight_decay_dropout_and_noise():
    data = grouped_digits()
    x, g = data.x_train[:200], data.g_train[:200]
    cfg = VaeConfig(epochs=1, hidden=32, critic_hidden=16, critic_steps=2, group_size=4, groups_per_batch=5,
                    adv_weight=1.0, critic_dropout=0.3, critic_noise=0.5, critic_weight_decay=1e-3)
    seen = {}
    _, hist = fit_group_vae(x, g, cfg, callback=lambda e, vae, critic: seen.update(critic=critic))
    critic = seen["critic"]
    drops = [m for m in critic.modules() if isinstance(m, torch.nn.Dropout)]
    assert [d.p for d in drops] == [0.3, 0.3] and not critic.training  # dropout only while it trains
    assert np.isfinite(hist[0]["mi"])
    # the plain defaults build the critic without dropout layers (same numbers as before)
    assert not any(isinstance(m, torch.nn.Dropout) for m in StyleGroupCritic(VaeConfig(), 5).modules())


def test_validation_folds_cross_fit_the_training_part_only():
    data = grouped_digits()
    folds = validation_folds(data, 3)
    rows = {r.tobytes(): i for i, r in enumerate(data.x_train)}
    seen = np.zeros(len(data.x_train), int)
    for fold in folds:
        assert len(fold.x_train) + len(fold.x_test) == len(data.x_train)
        idx = np.array([rows[r.tobytes()] for r in fold.x_test])  # KeyError if a held-out digit leaked in
        seen[idx] += 1
        np.testing.assert_array_equal(fold.g_test, data.g_train[idx])
        for g in np.unique(data.g_train):  # round-robin: every class gives a third of its members, +-1
            n = int((data.g_train == g).sum())
            assert n // 3 <= int((fold.g_test == g).sum()) <= -(-n // 3)
    assert (seen == 1).all()  # each training observation validates exactly once
    with pytest.raises(ValueError, match="k >= 2"):
        validation_folds(data, 1)


def test_adv_trim_leaves_the_most_recognisable_rows_out():
    target = torch.tensor([0, 0, 0, 1, 1, 1])
    tprob = (1 - torch.eye(6)) / 5
    # the critic is sure of row 0's pairs and blind on every other row
    logits = torch.zeros(6, 6)
    logits[0] = torch.tensor([0.0, 0.0, 0.0, -1e4, -1e4, -1e4])
    logits = logits.masked_fill(torch.eye(6, dtype=torch.bool), float("-inf"))
    critic = lambda s_, c_=None: logits  # noqa: E731
    full, _ = _adversarial_term(critic, None, None, target, tprob, "confusion")
    trimmed, _ = _adversarial_term(critic, None, None, target, tprob, "confusion", trim=1 / 6)
    assert float(full) > 1.0 and abs(float(trimmed)) < 1e-6  # row 0 alone carried the loss
    with pytest.raises(ValueError, match="adv_trim"):
        VaeConfig(adv_trim=1.0)


def test_pair_critic_scores_other_members_and_its_mi_bound():
    torch.manual_seed(0)
    cfg = VaeConfig(style_dim=3, critic_hidden=8)
    critic = StylePairCritic(cfg)
    s = torch.randn(6, 3)
    target = torch.tensor([0, 0, 0, 1, 1, 1])
    logits = critic(s)
    assert logits.shape == (6, 6) and torch.isinf(logits.diagonal()).all()
    pos, logp = _positive_logp(logits, target, pairs=True)
    # by hand: probability mass on the two other members of the row's group
    p = torch.softmax(logits, -1)
    manual = torch.log(torch.stack([p[i, [j for j in range(6) if j != i and target[j] == target[i]]].sum()
                                    for i in range(6)]))
    np.testing.assert_allclose(pos.detach().numpy(), manual.detach().numpy(), rtol=1e-6)
    assert torch.isfinite(logp).all()
    # a critic that knows nothing (all logits equal) estimates MI 0 and the confusion loss is 0 at the prior
    blind = lambda s_, c_=None: torch.zeros(6, 6).masked_fill(torch.eye(6, dtype=torch.bool), float("-inf"))  # noqa: E731
    tprob = (1 - torch.eye(6)) / 5
    adv, mi = _adversarial_term(blind, s, None, target, tprob, "confusion")
    assert abs(float(mi)) < 1e-6 and abs(float(adv)) < 1e-6
    # a critic certain of the right pairs: MI = log((n - 1) / (k - 1)) = log(5 / 2)
    sure = lambda s_, c_=None: torch.where(target[:, None] == target[None], 0.0, -1e4).masked_fill(  # noqa: E731
        torch.eye(6, dtype=torch.bool), float("-inf"))
    _, mi = _adversarial_term(sure, s, None, target, tprob, "mi")
    np.testing.assert_allclose(float(mi), np.log(5 / 2), rtol=1e-5)


def test_decoder_refit_keeps_the_codes_and_fits_the_decoder_better():
    data = grouped_digits()
    x, g = data.x_train[:400], data.g_train[:400]
    base = VaeConfig(epochs=4, hidden=32, adv_weight=1.0, adversary="pairs", group_size=4, groups_per_batch=8)
    a, _ = fit_group_vae(x, g, base)
    b, _ = fit_group_vae(x, g, VaeConfig(**{**base.__dict__, "decoder_refit_epochs": 10}))
    for name in ("content_encoder", "style_encoder"):  # encoders untouched by the refit
        for pa, pb in zip(getattr(a, name).parameters(), getattr(b, name).parameters()):
            np.testing.assert_array_equal(pa.detach().numpy(), pb.detach().numpy())
    np.testing.assert_array_equal(a.codes(x, g)[0], b.codes(x, g)[0])
    assert heldout_reconstruction(b, x, g, group_size=4) < heldout_reconstruction(a, x, g, group_size=4)
    with pytest.raises(ValueError, match="decoder_refit_epochs"):
        VaeConfig(decoder_refit_epochs=-1)
    with pytest.raises(ValueError, match="lr_schedule"):
        VaeConfig(lr_schedule="step")


def test_the_adversary_does_not_reshuffle_the_vae_training_run():
    # common random numbers: with the adversarial weight at 0 after the critic has trained, the VAE's
    # batches and samples are those of the plain run, so the two versions differ by the gradient alone
    data = grouped_digits()
    x, g = data.x_train[:300], data.g_train[:300]
    base = dict(epochs=2, hidden=32, critic_hidden=16, critic_steps=2, group_size=4, groups_per_batch=5)
    plain, _ = fit_group_vae(x, g, VaeConfig(**base))
    adv, _ = fit_group_vae(x, g, VaeConfig(**base, adv_weight=1e-12, adv_warmup=1.0))
    for pa, pb in zip(plain.parameters(), adv.parameters()):
        np.testing.assert_allclose(pa.detach().numpy(), pb.detach().numpy(), atol=1e-5)


def test_adv_trim_is_wired_into_training():
    data = grouped_digits()
    x, g = data.x_train[:300], data.g_train[:300]
    base = dict(epochs=2, hidden=32, critic_hidden=16, critic_steps=2, group_size=4, groups_per_batch=5,
                adv_weight=1.0, adversary="pairs")
    full, hist = fit_group_vae(x, g, VaeConfig(**base))
    trimmed, hist_t = fit_group_vae(x, g, VaeConfig(**base, adv_trim=0.5))
    assert all(np.isfinite(h["nll"]) for h in hist_t)
    style_full, style_trim = full.codes(x, g)[0], trimmed.codes(x, g)[0]
    assert np.abs(style_full - style_trim).max() > 1e-4  # half the rows left out moves the encoder


def test_foreign_members_replace_at_the_given_rate():
    rng = np.random.default_rng(0)
    idx = np.arange(40_000).reshape(10_000, 4)
    out = foreign_members(idx, 0.1, 10**6, rng)
    assert out.shape == idx.shape and (idx == np.arange(40_000).reshape(10_000, 4)).all()  # input untouched
    changed = (out != idx).mean()
    assert abs(changed - 0.1) < 0.01  # Bernoulli(0.1) per member; n = 1e6 makes a self-draw negligible
    assert out.min() >= 0 and out.max() < 10**6
    assert (foreign_members(idx, 0.0, 10**6, rng) == idx).all()
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="augment_foreign"):
            VaeConfig(augment_foreign=bad)


def test_augment_foreign_is_wired_into_training():
    data = grouped_digits()
    x, g = data.x_train[:300], data.g_train[:300]
    base = dict(epochs=2, hidden=32, group_size=4, groups_per_batch=5)
    clean, _ = fit_group_vae(x, g, VaeConfig(**base))
    mixed, hist = fit_group_vae(x, g, VaeConfig(**base, augment_foreign=0.2))
    assert all(np.isfinite(h["nll"]) for h in hist)
    assert np.abs(clean.codes(x, g)[0] - mixed.codes(x, g)[0]).max() > 1e-4  # other members were trained on


def test_extra_error_share_finds_where_the_cost_sits():
    groups = np.repeat(np.arange(10), 3)
    plain = np.ones(30)
    one = plain.copy()
    one[groups == 7] += 0.5  # all the extra error in group 7
    assert extra_error_share(plain, one, groups, top=1) == pytest.approx(1.0)
    even = plain + 0.1  # spread evenly over 10 groups
    assert extra_error_share(plain, even, groups, top=5) == pytest.approx(0.5)
    mixed = one.copy()
    mixed[groups == 2] -= 0.25  # the adversarial model is better on group 2: the top group carries > all of it
    assert extra_error_share(plain, mixed, groups, top=1) == pytest.approx(2.0)
    assert np.isnan(extra_error_share(plain, plain - 0.1, groups))


def test_reconstruction_errors_average_to_the_heldout_mse():
    data = grouped_digits()
    x, g = data.x_train[:200], data.g_train[:200]
    vae, _ = fit_group_vae(x, g, VaeConfig(epochs=1, hidden=16, group_size=4, groups_per_batch=4))
    err = reconstruction_errors(vae, data.x_test[:90], data.g_test[:90], group_size=4)
    assert err.shape == (90,) and (err >= 0).all()
    assert err.mean() == pytest.approx(heldout_reconstruction(vae, data.x_test[:90], data.g_test[:90], group_size=4))
