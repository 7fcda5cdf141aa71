"""Side-by-side: grouped VAE with and without the adversarial MI term (Németh, AAAI 2020).

Prints, per dataset and seed, the style-probe accuracy (leakage of the group into the style code),
the content-probe accuracy, chance, and held-out reconstruction for both versions, then the issue's
acceptance check: the adversarial term should close >= half the gap between the plain style-probe
accuracy and chance, at <= 5 % worse reconstruction.

    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data digits --seeds 0 1 2
    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data ecg --seeds 0 1 2

Settings are chosen with ``--validate``, which never touches the held-out split: the probe gap on a
validation split carved from the training part (30 % of each digit class, a third of each subject's
training beats), the reconstruction cost where the protocol keeps the held-out shape (VALIDATION_COST),
and ``--diagnose`` prints per-epoch recon (train/test part), critic accuracy, KL and MI of both versions:

    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data ecg --validate --seeds 0 1 2
    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data ecg --validate --diagnose

Since session 6 LUDB settings are chosen by cross-fitting: ``--crossfit 3`` deals every subject's training
beats into 3 folds, trains both versions on two and measures gap and ratio on the third, and prints the
means (each training beat validates once; a single nested split moves the ratio by +-0.05 on its own):

    nice -n 10 .venv/bin/python benchmarks/disentangle.py --data ecg --crossfit 3 --seeds 0 1 2

Does validation predict held-out? LUDB, the session-3 defaults (classifier critic, weight 1, recon_std 0.25):

    seed  nested split: gap, ratio   full training part: ratio   held out: gap, ratio
    0     0.485, 1.040               1.270                       0.698, 1.220
    1     0.523, 0.892               1.300                       0.603, 1.248
    2     0.476, 1.239               1.204                       0.619, 1.242

The nested split (~3.2 training beats per subject, content of ~1.6 validation beats) misses the held-out
cost by -0.36..0.00; the full training part (4.8 beats per subject, the held-out shape) is within 0.06,
because the cost is under-fitting. The same holds on other leads with the held-out protocol (seed 0,
training-part vs held-out ratio: III 1.12/1.13, aVF 1.15/1.13, V5 1.17/1.16). The nested gap
under-predicts the held-out gap by 0.08-0.21 (the probe has fewer beats per subject), so it is a
conservative check. Digits (nested split mirrors the held-out shape), weight 2: gap 0.739/0.663/0.600,
ratio 1.057/1.077/1.076 vs held out 0.634/0.566/0.575, 1.071/1.039/0.998.

Why LUDB pays (--diagnose, seed 0): the adversarial model is worse on the training beats throughout
(0.062 vs 0.051 at epoch 100 on the nested split), so it under-fits; the critic reaches 0.76-0.90 accuracy
on the 160 subjects from the training styles while the held-out probe reads 0.25-0.32: it memorises
the few beats per subject and keeps pushing; the content code carries the subject in both versions
(content probe 0.92-0.95) and the adversarial decoder uses it more (recon error with the content zeroed
0.69 vs 0.49); 66 % of the extra error comes from the quarter of subjects with the most beat-to-beat
variation (correlation 0.31): their style scale itself identifies them.

Validation screen on LUDB, seed 0 unless noted (nested gap / nested ratio / full-training-part ratio):

    weight 1 (default)                        0.485 / 1.040 / 1.270   (seeds 1, 2: 0.523/0.892/1.300, 0.476/1.239/1.204)
    weight 0.5                                0.331 / 1.003 / 1.153
    200 epochs (both versions)                0.893 / 1.191 / 1.663
    200 epochs, weight 0.5                    0.612 / 1.034 / 1.249
    adv_warmup 1.0                            0.390 / 1.002 / 1.274
    critic_steps 3                            0.397 / 0.986 / 1.028   (seed 1: 0.262/0.906/1.216)
    critic_steps 5                            0.316 / 1.038 / 1.153
    critic_steps 3, weight 1.5 / 2            0.412 / 1.013 / 1.104;  0.441 / 0.995 / 1.185
    critic_lr 5e-4                            0.331 / 0.973 / 1.158
    recon_std 0.15                            0.284 / 0.928 / 1.068
    beta 0.5                                  0.647 / 0.932 / 1.329;  with critic_steps 3: 0.367 / 0.940 / 1.028
    group_size 8, 16 groups per batch         0.393 / 1.005 / 1.160
    (prototypes, code not kept:)
    cross-fitted critic (two halves)          0.301 / 0.952 / 1.188
    adversarial gradient kept off content     0.353 / 1.009 / 1.345   (seed 1: 0.503/0.872/1.275)
    content-only recon term 0.3               0.616 / 1.061 / 1.452;  with critic_steps 3: 0.442 / 0.974 / 1.144
    content encoder sees member spread        0.447 / 1.121 / 1.541   (seed 1: 0.468/0.969/1.284)

Every change that lowers the cost lowers the gap about as much: none reaches gap >= 0.5 at ratio <= 1.05
on validation, so the LUDB defaults are unchanged and the LUDB reconstruction figure is not met.

Last attempt (2026-11-27, the options now in VaeConfig, all off by default), LUDB validation, seed 0 unless
noted (nested gap / full-training-part ratio); criterion gap >= 0.55 and ratio <= 1.05 on every seed:

    1. critic that cannot memorise
    critic_noise 0.3 / 0.5 / 0.1              0.154 / 0.964;  -0.037 / 0.927;  0.338 / 1.190
    critic_noise 1.0, critic_weight_decay 1e-3  -0.118 / 0.927
    critic_noise 0.3, weight 3                0.279 / 1.064
    critic_dropout 0.3                        0.382 / 1.158
    critic_weight_decay 1e-3 / 1e-2           0.449 / 1.141;  0.059 / 1.046;  1e-3 at weight 1.5: 0.515 / 1.263
    critic_hidden 32                          0.360 / 1.153
    2. beat augmentation (both versions; augA = augment_scale 0.1, augment_offset 0.1, augment_shift 1)
    augA                                      0.535 / 1.155;  weight 0.7: 0.433 / 1.165
    scale 0.2, offset 0.2, shift 2            0.401 / 1.115;  weight 1.5: 0.519 / 1.159
    augA, critic_steps 3, weight 1/1.5/2/2.5/3  0.325/1.004; 0.452/1.044; 0.503/1.061; 0.541/1.127; 0.567/1.171
    augA, critic_steps 3, weight 2, seeds 1, 2  0.470 / 1.215;  0.465 / 1.017
    ... plus critic_weight_decay 1e-4         0.497 / 1.070
    shift 1 only / scale+offset only, cs 3, w 2  0.449 / 1.107;  0.507 / 1.153
    scale 0.2, offset 0.2, shift 2, cs 3, w 2 0.364 / 1.026
    3. decoder_std "content"
    weight 1 / 0.5 / 1.5                      0.624 / 1.243;  0.738 / 1.257;  0.698 / 1.421
    with augA; with critic_steps 3, weight 1.5  0.425 / 1.478;  0.315 / 1.297
    with augA, critic_steps 3, weight 2       0.477 / 1.589

Input noise or weight decay strong enough to stop the critic memorising also stops it finding what the
held-out probe finds (the gap collapses). Augmentation moves the trade-off (augA + critic_steps 3 at weight
2: 0.503 / 1.061 vs 0.441 / 1.185 without it) but not across the bar, and not on every seed. The
content-dependent std raises the gap at an unchanged or higher cost. Nothing passed validation, so no
held-out run was made and the LUDB defaults are unchanged.
Digits validation (nested split, seeds 0/1/2): weight 1: gap 0.575/0.525/0.544, ratio 1.073/1.024/1.063;
weight 1.5: 0.691/0.579/0.586, 1.071/1.055/1.048; weight 2: above.

Held-out runs looked at, every one (weight 2: last session's default; weight 1: first chosen by the rule
"lowest validation cost with gap >= 0.5", which had no margin; weight 1.5: the rule with a 0.05 margin
the issue asked for, now the default; the margin was set after weight 1's held-out run):

    data    weight  seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    digits  2       0     0.607 -> 0.287          0.102   0.634       0.1463 -> 0.1567    1.071
    digits  2       1     0.635 -> 0.333          0.102   0.566       0.1267 -> 0.1317    1.039
    digits  2       2     0.594 -> 0.311          0.102   0.575       0.1412 -> 0.1409    0.998
    digits  1       0     0.607 -> 0.369          0.102   0.473       0.1463 -> 0.1522    1.041
    digits  1       1     0.635 -> 0.322          0.102   0.587       0.1267 -> 0.1329    1.049
    digits  1       2     0.594 -> 0.352          0.102   0.492       0.1412 -> 0.1395    0.988
    digits  1.5     0     0.607 -> 0.300          0.102   0.608       0.1463 -> 0.1544    1.056
    digits  1.5     1     0.635 -> 0.339          0.102   0.556       0.1267 -> 0.1305    1.030
    digits  1.5     2     0.594 -> 0.326          0.102   0.545       0.1412 -> 0.1377    0.975
    LUDB    1       0     0.789 -> 0.249          0.014   0.698       0.0823 -> 0.1004    1.220
    LUDB    1       1     0.782 -> 0.319          0.014   0.603       0.0811 -> 0.1013    1.248
    LUDB    1       2     0.795 -> 0.312          0.014   0.619       0.0830 -> 0.1031    1.242

With those defaults, digits (weight 1.5) closed 0.55-0.61 of the gap at ratios 1.056 / 1.030 / 0.975 and
LUDB (classifier critic, weight 1) 0.60-0.70 at 1.22-1.25.

Session 4 (2026-11-27). Three changes, each chosen on validation only:

1. Common random numbers. The critic now draws its batches and noise from its own streams, so both
   versions see the same training batches and posterior samples and differ by the adversarial gradient
   alone. Before, the critic consumed the VAE's stream and the two versions were two differently shuffled
   runs: the LUDB training-part ratio of one setting ranged 1.024-1.385 over seeds, now 1.104-1.135.
   Every number below marked CRN is with it; numbers before it are not comparable across settings.
2. adversary="pairs" (LUDB): a critic that scores pairs of style codes for "same subject" instead of a
   160-way classifier that memorises ~5 beats per subject. Seed 0, pre-CRN, nested gap / training-part
   ratio: classifier weight 1 0.485 / 1.270; pairs weight 0.5 0.500 / 1.139, weight 1 0.596 / 1.349.
3. A sharper decoder for LUDB (recon_std 0.15; pairs, critic_steps 3, weight 1.5: 0.529 / 0.997 vs
   recon_std 0.25 at weight 0.5: 0.500 / 1.139) and a 50-epoch decoder refit at the end (encoders
   frozen: the codes a probe reads are unchanged; pre-CRN, pairs weight 1.5, critic_steps 3, recon_std
   0.2: ratio 1.024 / 1.385 / 1.103 -> 1.060 / 1.206 / 1.184: it evens seeds out more than it lowers the
   mean). Tried and dropped (pre-CRN): cosine learning-rate decay, an EMA of the weights (the averaged
   encoder leaks: gap 0.49 / 0.38 / 0.38), style encoder reading the residual after the content,
   content_dim 48, hidden 256 (plain over-fits: ratio 1.92), group_size 8.

LUDB validation with CRN (pairs, recon_std 0.15, refit 50), nested gap / training-part ratio per seed:

    critic_steps  weight  seed 0          seed 1          seed 2
    3             1.5     0.503 / 1.053
    3             2.5     0.568 / 1.104   0.612 / 1.135   0.656 / 1.125
    5             1.0     0.484 / 1.036
    5             1.5     0.561 / 1.055   0.559 / 1.078   0.503 / 1.050
    5             2.0     0.626 / 1.105   0.572 / 1.118   0.662 / 1.081   <- chosen (gap >= 0.55 on all seeds)
    5             2.5     0.690 / 1.088   0.599 / 1.151   0.695 / 1.122
    10            1.0     0.516 / 1.027   0.428 / 1.051   0.497 / 1.020
    10            1.25    0.535 / 1.037   0.474 / 1.086
    10            1.5     0.574 / 1.089

    with beat augmentation (augA: augment_scale 0.1, augment_offset 0.1, augment_shift 1), critic_steps 5:
    5             2.0     0.563 / 1.029   0.542 / 1.042   0.435 / 1.024
    5             2.5     0.589 / 1.043   0.665 / 1.069   0.460 / 1.043
    5             3.0     0.652 / 1.078   0.768 / 1.074   0.602 / 1.064
    5, critic_hidden 256  2.5  0.639 / 1.042   0.600 / 1.073   0.509 / 1.044
    classifier critic, critic_steps 10, weight 1 (seed 0): 0.310 / 1.014 (the pair critic at the same
    cost closes more: 0.516 / 1.027)
    the default with a longer decoder refit: 0 / 50 / 150 / 300 epochs, seed 0: 1.110 / 1.105 / 1.077 /
    1.065 (gap 0.626: the codes do not change); 150 epochs, seeds 1, 2: 1.122 / 1.085 (50: 1.118 / 1.081)

The trade-off is now systematic: gap ~0.5 costs ~1.02-1.05, gap >= 0.55 on every seed costs 1.08-1.12.
The same rule as before (lowest cost with validation gap >= 0.55 on every seed) picks critic_steps 5,
weight 2. By the ratio alone the rule would pick augA at weight 3 (max 1.078), and its held-out run
(below) is closer to the bar; it is NOT the default because it lowers the ratio by making the plain
baseline worse, not the adversarial model better: held-out plain MSE 0.0730 / 0.0704 / 0.0709 without
augmentation, 0.0749 / 0.0756 / 0.0751 with it, while the adversarial MSE stays 0.079-0.081 either way.
Choosing a setting because it weakens the reference would be tuning the figure, not the method. Pre-CRN screen of the same family (weights 0.3-7, recon_std 0.1-0.2, critic_steps 1-3):
see CHANGELOG; none met both on every seed.

Digits with CRN (classifier, weight 1.5, 200 epochs), nested gap / nested ratio per seed:
recon_std 0.2: 0.549 / 1.050, 0.557 / 1.024, 0.581 / 1.018. (Pre-CRN recon_std 0.2: 0.615 / 1.038,
0.557 / 1.027, 0.577 / 1.028; its held-out runs, seeds 0 / 1: gap 0.512 / 0.561, ratio 1.086 / 1.004,
made before CRN and not kept as a default.)
recon_std 0.2, weight 2: 0.637 / 1.029, 0.635 / 1.015, 0.679 / 1.050 <- chosen (weight 1.5 misses the
0.55 margin on seed 0). recon_std 0.25 was not re-screened with CRN (pre-CRN it cost 1.071 / 1.055 /
1.048 at weight 1.5; the runs were stopped for time).

Held-out runs this session, every one:

    data    setting                                  seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    digits  recon_std 0.2, w 1.5 (pre-CRN)           0     0.648 -> 0.369          0.102   0.512       0.1456 -> 0.1581    1.086
    digits  recon_std 0.2, w 1.5 (pre-CRN)           1     0.696 -> 0.363          0.102   0.561       0.1299 -> 0.1305    1.004
    digits  recon_std 0.2, w 2, CRN (default)        0     0.648 -> 0.306          0.102   0.627       0.1456 -> 0.1474    1.012
    digits  recon_std 0.2, w 2, CRN (default)        1     0.696 -> 0.344          0.102   0.592       0.1299 -> 0.1296    0.998
    digits  recon_std 0.2, w 2, CRN (default)        2     0.698 -> 0.333          0.102   0.612       0.1408 -> 0.1424    1.012
    LUDB    pairs cs3 w2.5 rs0.15 refit (pre-CRN)    0     0.829 -> 0.394          0.014   0.534       0.0730 -> 0.0784    1.075
    LUDB    pairs cs3 w2.5 rs0.15 refit (pre-CRN)    1     0.809 -> 0.323          0.014   0.611       0.0704 -> 0.0826    1.174
    LUDB    pairs cs3 w2.5 rs0.15 refit (pre-CRN)    2     0.841 -> 0.342          0.014   0.603       0.0709 -> 0.0842    1.187
    LUDB    pairs cs5 w2 rs0.15 refit, CRN (default) 0     0.829 -> 0.437          0.014   0.481       0.0730 -> 0.0788    1.080
    LUDB    pairs cs5 w2 rs0.15 refit, CRN (default) 1     0.809 -> 0.355          0.014   0.571       0.0704 -> 0.0789    1.122
    LUDB    pairs cs5 w2 rs0.15 refit, CRN (default) 2     0.841 -> 0.388          0.014   0.548       0.0709 -> 0.0786    1.109
    LUDB    the default + augA, w3 (not adopted)     0     0.822 -> 0.339          0.014   0.598       0.0749 -> 0.0807    1.077
    LUDB    the default + augA, w3 (not adopted)     1     0.839 -> 0.335          0.014   0.612       0.0756 -> 0.0788    1.042
    LUDB    the default + augA, w3 (not adopted)     2     0.838 -> 0.391          0.014   0.543       0.0751 -> 0.0791    1.053

Digits meets both figures on every seed (gap 0.59-0.63 at ratio 0.998-1.012). LUDB does not: the cost
fell from 1.22-1.25 to 1.08-1.12, and seed 0 now closes 0.481 of the gap (its nested validation gap was
0.626: on LUDB the nested gap no longer bounds the held-out gap from below). On LUDB the price of a
half-closed gap is ~8-12 % reconstruction with everything tried; ~5 % buys a gap near 0.45-0.5 on
validation.

Session 5 (2026-11-27), LUDB validation with CRN, the default plus one change, seed 0 unless noted
(nested gap / training-part ratio; in brackets the training-part MSE plain -> adversarial, default
0.0303 -> 0.0335, 0.0293 -> 0.0327, 0.0307 -> 0.0332 on seeds 0 / 1 / 2):

    style_dim 4                               0.606 / 1.011 [0.0412 -> 0.0417]; seeds 1, 2: 0.363 / 1.016, 0.485 / 0.985
    style_dim 3 / 6 / 16                      0.152 / 1.057;  0.577 / 1.058;  0.602 / 1.200
    style_dim 16, weight 3                    0.559 / 1.228
    beta 0.5                                  0.605 / 1.125
    lr 5e-4, 200 epochs / 150 epochs          0.597 / 1.082;  0.585 / 1.071
    groups_per_batch 64                       0.617 / 1.174
    hidden 192 / critic_hidden 256            0.531 / 1.083 [0.0223 -> 0.0242];  0.606 / 1.090
    content_dim 12                            0.538 / 1.127 [0.0334 -> 0.0376]
    content_dim 48, seeds 0 / 1 / 2           0.673 / 1.064;  0.493 / 1.048;  0.626 / 1.075
    content_dim 48, weight 1.5                0.595 / 1.034
    content_dim 64, seeds 0 / 1 / 2           0.652 / 1.063;  0.573 / 1.040;  0.623 / 0.989
                                              [0.0294 -> 0.0312, 0.0316 -> 0.0328, 0.0336 -> 0.0333]
    content_dim 96                            0.644 / 1.109
    (prototypes, code not kept:)
    scaled decoder x = base(c) + exp(a(c)) * r(c, s)
                                              0.615 / 1.196 [0.0252 -> 0.0302]; seeds 1, 2: 0.600 / 1.047, 0.638 / 1.150
    ... weight 1.5 / 3                        0.508 / 1.164;  0.692 / 1.236
    ... and the style encoder reads (x - base(c)) * exp(-a(c)), weight 1 / 1.5 / 2, seeds 0 / 1 / 2:
        weight 1                              0.425 / 1.034;  0.482 / 1.013;  0.420 / 1.072
        weight 1.5                            0.512 / 1.121;  0.577 / 1.037;  0.571 / 1.102
        weight 2                              0.583 / 1.177;  0.650 / 1.057;  0.661 / 1.125  [0.0249 -> 0.0293, 0.0249 -> 0.0263, 0.0233 -> 0.0263]

A larger content code (64) would pass the selection rule (gap >= 0.57, training-part ratio <= 1.063 on
every seed), but on seeds 1 and 2 the adversarial model fits exactly as well as the default's (0.0328
vs 0.0327, 0.0333 vs 0.0332) and the ratio falls because the plain one fits worse (0.0316 vs 0.0293,
0.0336 vs 0.0307; nested validation MSE of the plain model averaged over seeds: content_dim 24 0.086,
48 0.092, 64 0.093): the reference should be the best plain model, so it is not adopted. By the same
measure hidden 192 is a better plain model (seed 0: training part 0.0223, nested validation 0.072 vs
0.0303, 0.099) and its ratio is no better (1.083). Smaller style codes lower the ratio only by making
the plain model worse (style_dim 4: plain training-part MSE 0.041 vs 0.030; the adversarial model is
worse than the default's too), the same objection as to beat augmentation. The scaled decoder with a residual style input fits the
training part better in both versions (the adversarial model below the default's plain one) but not
the nested validation split (seed 0 adversarial MSE 0.151 vs 0.095 with the default; seed 2 0.101 vs
0.087), and its trade-off is the default's: gap ~0.5 at ~1.03-1.07, >= 0.55 at 1.06-1.18. None of
these settings was adopted or run on the held-out split.

Capacity is what moved (same defaults, hidden width of the encoders and the decoder; nested gap /
training-part ratio / nested ratio, and the plain model's nested validation MSE):

    hidden  weight  seed 0                  seed 1                  seed 2                  plain val MSE
    128     2       0.626 / 1.105 / 0.960   0.572 / 1.118 / 1.145   0.662 / 1.081 / 1.090   0.099 / 0.080 / 0.080
    192     2       0.531 / 1.083 / 1.114   0.616 / 1.127 / 1.116   0.646 / 1.093 / 1.004   0.072 / 0.073 / 0.092
    256     1.5     0.562 / 1.041 / 1.018   0.550 / 1.019 / 1.021   0.503 / 1.014 / 1.061
    256     2       0.673 / 1.069 / 1.082   0.625 / 1.040 / 1.044   0.594 / 1.032 / 1.138   0.068 / 0.068 / 0.066  <- chosen
    256     2.5     0.735 / 1.108 / 1.090   0.675 / 1.080 / 1.083   0.673 / 1.043 / 1.104
    384     2       0.598 / 1.017 / 1.063   0.528 / 1.087 / 1.035   0.564 / 1.010 / 0.983   0.066 / 0.067 / 0.067
    512     2       0.636 / 1.009 / 1.039   0.647 / 1.021 / 1.101   0.685 / 1.107 / 1.070   0.065 / 0.063 / 0.069
    768     2       0.576 / 1.059 / 1.000                                                           0.071 (seed 0)

The wider network is a better plain reference (the opposite of the settings above that lower the ratio
by weakening it), and the adversarial model gains more. The rule (gap >= 0.55 on every seed, lowest
maximum training-part ratio) picks hidden 256 at weight 2 (weight 1.5: gap 0.503 on seed 2; 384: 0.528
on seed 1; 512: max cost 1.107). Held out, compared with hidden 128 above:

    data    setting                                  seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    LUDB    hidden 256, 100 epochs, w 2 (1st pick)   0     0.828 -> 0.384          0.014   0.546       0.0651 -> 0.0738    1.133
    LUDB    hidden 256, 100 epochs, w 2 (1st pick)   1     0.851 -> 0.364          0.014   0.582       0.0605 -> 0.0653    1.078
    LUDB    hidden 256, 100 epochs, w 2 (1st pick)   2     0.897 -> 0.430          0.014   0.529       0.0660 -> 0.0679    1.028

Both versions reconstruct better than with hidden 128 on every seed (plain 0.0730 / 0.0704 / 0.0709 ->
0.0651 / 0.0605 / 0.0660; adversarial 0.0788 / 0.0789 / 0.0786 -> 0.0738 / 0.0653 / 0.0679: on seeds 1
and 2 the adversarial model now beats the old plain one), the gap is closed by half on every seed (seed 0
0.481 -> 0.546), and the ratio is met on seed 2 only (1.133 / 1.078 / 1.028; mean 1.080, was 1.104). The
training-part ratio no longer tracks the held-out one this closely (seed 0: 1.069 vs 1.133): the wider
models over-fit the ~4.8 training beats per subject (training-part MSE ~0.02 vs ~0.065 held out), so the
cost is no longer under-fitting alone.

Then training length and regularisation at hidden 256 (same columns):

    setting                     seed 0                  seed 1                  seed 2                  plain val MSE
    weight decay 0.01 (AdamW)   0.683 / 1.077 / 1.059   0.573 / 1.043 / 1.075   0.582 / 1.049 / 1.137   0.069 / 0.068 / 0.066
    weight decay 0.1            0.658 / 1.096 / 1.045   0.608 / 1.045 / 1.095   0.602 / 1.017 / 1.130   0.069 / 0.068 / 0.067
    60 epochs, weight 2         0.484 / 1.091 / 1.057   0.516 / 1.043 / 1.112   0.533 / 1.040 / 1.112   0.078 / 0.075 / 0.075
    150 epochs, weight 2        0.709 / 1.062 / 1.072   0.658 / 1.076 / 1.031   0.642 / 1.021 / 1.190   0.065 / 0.066 / 0.063
    150 epochs, weight 1        0.500 / 1.016 / 1.040   0.458 / 0.995 / 0.994   0.481 / 0.997 / 1.058
    150 epochs, weight 1.25     0.576 / 1.039 / 1.009   0.523 / 1.008 / 0.995   0.531 / 1.001 / 1.033
    150 epochs, weight 1.5      0.677 / 1.047 / 1.019   0.587 / 1.045 / 0.996   0.617 / 1.028 / 1.068
    200 epochs, weight 2        0.726 / 1.078 / 1.057                                                   0.064 (seed 0)
    200 epochs, weight 1.5      0.694 / 1.032 / 1.064   0.597 / 1.035 / 1.025   0.635 / 0.993 / 1.104   0.064 / 0.065 / 0.062  <- chosen first
    200 epochs, weight 1.25     0.624 / 1.005 / 1.041   0.557 / 1.023 / 1.029   0.667 / 0.978 / 1.072                          <- chosen

Weight decay does nothing for either version (prototype, code not kept); longer training makes the
plain reference better (nested validation MSE 0.068 -> 0.064 at 200 epochs) and raises the gap, which
a lower weight then trades for cost. The rule picks 200 epochs at weight 1.5 (max training-part ratio
1.035; 150 epochs at 1.5: 1.047). Mean nested ratio over seeds would have picked 150 epochs (1.028 vs
1.064); the rule was kept as declared. Held out:

    data    setting                                  seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    LUDB    hidden 256, 200 epochs, weight 1.5       0     0.789 -> 0.312          0.014   0.616       0.0653 -> 0.0687    1.052
    LUDB    hidden 256, 200 epochs, weight 1.5       1     0.825 -> 0.280          0.014   0.672       0.0597 -> 0.0672    1.125
    LUDB    hidden 256, 200 epochs, weight 1.5       2     0.888 -> 0.276          0.014   0.701       0.0658 -> 0.0694    1.055

The adversarial model now reconstructs held-out beats better than the session-4 plain model did
(0.0687 / 0.0672 / 0.0694 vs 0.0730 / 0.0704 / 0.0709) and closes 0.62-0.70 of the gap; the ratio to
its own, stronger plain reference is 1.052 / 1.125 / 1.055.

Weight 1.25 at 200 epochs was screened after that held-out run (at 150 epochs it had missed the gap
margin; 200 epochs raised every gap). It passes the rule with a lower cost (gap >= 0.557, max
training-part ratio 1.023), so the rule picks it; this is the one setting whose screen followed a
held-out look, and both held-out runs are reported:

    data    setting                                  seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    LUDB    hidden 256, 200 epochs, w 1.25 (default) 0     0.789 -> 0.315          0.014   0.612       0.0653 -> 0.0677    1.037
    LUDB    hidden 256, 200 epochs, w 1.25 (default) 1     0.825 -> 0.295          0.014   0.654       0.0597 -> 0.0667    1.117
    LUDB    hidden 256, 200 epochs, w 1.25 (default) 2     0.888 -> 0.339          0.014   0.628       0.0658 -> 0.0686    1.043

Both figures are met on seeds 0 and 2; seed 1 closes the gap (0.654) at 1.117. Seed 1's plain model is
the best of all (0.0597) and its ratio is the highest in every held-out run of this session (1.078,
1.125, 1.117) while its validation ratios were not (1.040 / 1.044, 1.035 / 1.025, 1.023 / 1.029).

Two more seeds of the default, run only to see the spread (nothing was chosen on them):

    LUDB    hidden 256, 200 epochs, w 1.25 (default) 3     0.835 -> 0.333          0.014   0.611       0.0684 -> 0.0706    1.032
    LUDB    hidden 256, 200 epochs, w 1.25 (default) 4     0.820 -> 0.335          0.014   0.602       0.0646 -> 0.0681    1.055

Over seeds 0-4 the gap is 0.60-0.65 and the ratio 1.032-1.117 (median 1.043): the bound holds on 3 of 5.
Digits, the same two extra seeds of its (unchanged) default: gap 0.621 / 0.639 at ratio 1.033 / 1.006
(plain 0.1251 / 0.1429 -> adversarial 0.1292 / 0.1438): met on all 5 seeds.

Where seed 1's held-out cost comes from (a diagnosis after the fact; nothing was chosen on it): one
subject with atrial flutter (LUDB 103) gives 47 % of the extra error, the three flutter subjects 67 %;
without the five costliest subjects the ratio is 1.027 (seed 0: 1.037 overall, 103 alone 57 %, 0.995
without the five). Flutter waves run at their own rate, so each beat carries F waves at a different
phase: a beat-level factor that only a few subjects have. A style code that must look the same for every
subject cannot carry it, and the content (one code per subject) cannot either. Sinus-rhythm subjects
without extrasystoles (109) cost 1.018 / 1.025 on seeds 0 / 1. The issue's protocol (all 160 subjects)
is kept; this is why the bound is missed on some seeds.

Where the cost is not: pooling the content over all of a subject's training beats instead of chunks
of 4 leaves the training-part ratio as it is (seed 0: 1.105 -> 1.106; seed 1: 1.118 -> 1.119; chunks of
1: 1.215 / 1.181), so the adversarial model does not pay for a noisy content estimate that a leaky
style used to correct; it pays for beat-level information whose distribution differs between subjects.
With hidden 128 it was not a few arrhythmic subjects either (seed 0, training part, by ludb.csv rhythm:
sinus rhythm without extrasystoles, 109 subjects, 1.09; atrial fibrillation, 11, 1.04; atrial flutter, 3
subjects, 1.34 and 29 % of the extra error; all 1.105): the cost was spread over ordinary sinus beats.
With the wider defaults the sinus beats cost ~1.02 and atrial flutter dominates (see above).

Session 6 (2026-11-27). A better selection tool first: 3-fold cross-fitting of each subject's training
beats (``--crossfit 3``, never the held-out split). Its mean over folds tracks the held-out ratio
better than the training part did (seeds 0-2, mean absolute difference 0.026 vs 0.064; the session-5
default, seeds 0-4,
cross-fitted vs held out: 1.038 / 1.037, 1.056 / 1.117, 1.026 / 1.043, 1.036 / 1.032, 1.004 / 1.055; seed 1
is the highest cross-fitted seed of the first three, as held out), and its cross-fitted gap (0.52-0.57)
reads lower than the held-out gap (0.60-0.65: the probe has fewer beats per subject). Settings that do
nothing give the noise floor: the "mi" objective (its floored estimate sits at 0, so it never pushes;
gap 0.00) reads 0.978 / 1.020 / 1.000.

Cross-fitted, seeds 0 / 1 / 2 (gap; ratio; plain MSE where the plain model changes), all with the
session-5 defaults plus the change:

    setting                          gap                    ratio                     mean gap / ratio
    default (weight 1.25)            0.548 / 0.520 / 0.523  1.038 / 1.056 / 1.026     0.530 / 1.040
    weight 1.0                       0.465 / 0.450 / 0.441  1.029 / 1.036 / 1.016     0.452 / 1.027
    weight 1.5                       0.606 / 0.555 / 0.591  1.029 / 1.060 / 1.019     0.584 / 1.036
    decoder width 512 (encoders 256) 0.574 / 0.610 / 0.560  0.987 / 1.020 / 1.044     0.581 / 1.017
        plain MSE 0.0707 / 0.0704 / 0.0700 vs 0.0714 / 0.0662 / 0.0673: the adversarial model fits as
        before (0.0715 vs 0.0712 mean), the plain one worse: not adopted (weakens the reference)
    lr_schedule cosine               0.445 / 0.399 / 0.433  1.028 / 1.051 / 1.045
    decoder refit 150 epochs         0.548 / 0.520 / 0.523  1.042 / 1.058 / 1.025
    adv_objective "mi"               -0.001 / 0.004 / -0.010  0.978 / 1.020 / 1.000  (no pressure)
    per-observation hinge on the positive-pair belief, weight 1.25 / 2.5 (prototype, code not kept):
                                     0.000 / 0.019 / -0.009; 0.002 / 0.025 / -0.009 (no pressure either:
                                     the confusion objective works through the whole belief row)

A new idea aimed at the session-5 diagnosis (a few flutter subjects carry most of the cost): a trimmed
adversarial loss, ``adv_trim`` — the encoder's confusion loss leaves out the fraction of each batch's
observations that the critic finds most recognisable (the critic still learns from all of them):

    trim  weight                     gap                    ratio                     mean gap / ratio
    0.05  1.25                       0.539 / 0.500 / 0.502  1.025 / 1.034 / 1.011     0.514 / 1.023
    0.05  1.5                        0.589 / 0.552 / 0.566  1.048 / 1.062 / 1.023     0.569 / 1.044
    0.1   1.25                       0.557 / 0.510 / 0.512  1.026 / 1.038 / 1.035     0.526 / 1.033
    0.1   1.5                        0.582 / 0.560 / 0.560  1.033 / 1.037 / 1.017     0.567 / 1.029
    0.1   1.75                       0.623 / 0.590 / 0.583  1.066 / 1.049 / 1.021     0.599 / 1.045
    0.2   1.5                        0.583 / 0.533 / 0.518  1.013 / 1.037 / 1.002     0.545 / 1.017
    0.2   1.75                       0.578 / 0.586 / 0.562  1.039 / 1.023 / 1.003     0.575 / 1.022  <- chosen
    0.2   2.0                        0.621 / 0.588 / 0.586  1.037 / 1.029 / 1.009     0.598 / 1.025
    0.3   2.0                        0.591 / 0.598 / 0.598  1.038 / 1.040 / 1.006     0.596 / 1.028

Rule, declared after the first trim runs and before the trim 0.2 / 0.3 ones: mean cross-fitted gap >=
0.55 over seeds 0-2 (a margin: the default's 0.530 read 0.61-0.65 held out), lowest mean ratio. It picks
trim 0.2 at weight 1.75. Seeds 3 / 4 as a check (not used to choose): 0.603 / 0.606 at 1.029 / 1.008
(default: 0.551 / 0.574 at 1.036 / 1.004). The plain model is the same run as before (CRN). Held out, the
one look at it this session:

    data    setting                                  seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    LUDB    trim 0.2, weight 1.75 (default)          0     0.789 -> 0.322          0.014   0.603       0.0653 -> 0.0679    1.040
    LUDB    trim 0.2, weight 1.75 (default)          1     0.825 -> 0.282          0.014   0.670       0.0597 -> 0.0644    1.079
    LUDB    trim 0.2, weight 1.75 (default)          2     0.888 -> 0.316          0.014   0.655       0.0658 -> 0.0671    1.020
    LUDB    trim 0.2, weight 1.75 (default)          3     0.835 -> 0.338          0.014   0.606       0.0684 -> 0.0701    1.026
    LUDB    trim 0.2, weight 1.75 (default)          4     0.820 -> 0.308          0.014   0.636       0.0646 -> 0.0669    1.036

Against the session-5 default on the same seeds (gap 0.612 / 0.654 / 0.628 / 0.611 / 0.602, ratio 1.037 /
1.117 / 1.043 / 1.032 / 1.055): the gap is as wide or wider on 3 of 5 seeds (0.60-0.67) and the ratio
lower on 4 of 5 (mean 1.057 -> 1.040). Both figures are met on seeds 0, 2, 3 and 4; seed 1 is still
short (1.079, was 1.117).

Does the trim do what it was built for? (diagnosis after the fact, seed 1, nothing chosen on it.) Over the
second half of training the loss left out the three atrial-flutter subjects' beats 95-97 % of the times
they were in a batch, atrial fibrillation 48 %, sinus rhythm 16 % (by ludb.csv rhythm; the most trimmed
subject, 51, has atrial fibrillation). Held out, the flutter subjects' cost fell from 1.43 to 1.20 (LUDB
103: extra error 2.30 -> 1.02, 47 % -> 31 % of the total extra), sinus rhythm without extrasystoles
stays at 1.02; without the five costliest subjects the ratio is 1.035. Seed 1's remaining extra error is
spread: flutter 45 %, sinus rhythm 29 %, atrial fibrillation 18 %.

After that look, longer training with the trim (cross-fitted, seeds 0 / 1 / 2; not run held out):

    epochs  weight  gap                    ratio                     mean gap / ratio   plain MSE
    300     1.75    0.638 / 0.657 / 0.633  1.032 / 1.026 / 1.031     0.643 / 1.030      0.0702 / 0.0656 / 0.0667
    300     1.5     0.661 / 0.632 / 0.634  1.034 / 1.027 / 1.029     0.642 / 1.030
    300     1.25    0.631 / 0.581 / 0.596  1.022 / 1.025 / 1.020     0.603 / 1.023
    300     1.0     0.565 / 0.560 / 0.526  1.026 / 1.020 / 1.021     0.550 / 1.022
    200     1.75    (the default)                                    0.575 / 1.022      0.0714 / 0.0662 / 0.0673

300 epochs makes the plain model ~1 % better and widens the gap, but the ratio does not fall below the
default's at any weight (1.022-1.030), so the rule keeps 200 epochs. The trade-off on cross-fitting has
flattened at ~1.02 for every gap from 0.55 to 0.60.

Seed 1's plain model is the best of the five seeds held out (0.0597; others 0.0646-0.0684), and its
adversarial model (0.0644) reconstructs better than the plain model of every other seed; over the five
seeds the ratio of mean held-out MSEs is 0.06728 / 0.06475 = 1.039.

Then the reference itself. A larger style code makes the plain model much better (cross-fitted, seeds 0 /
1 / 2, with the trim at weight 1.75):

    style_dim  plain MSE                  adversarial MSE            gap                    ratio
    8          0.0714 / 0.0662 / 0.0673   0.0749 / 0.0677 / 0.0675   0.578 / 0.586 / 0.562  1.039 / 1.023 / 1.003
    12         0.0583 / 0.0605 / 0.0594   0.0634 / 0.0636 / 0.0659   0.598 / 0.625 / 0.637  1.083 / 1.048 / 1.110
    16         0.0605 / 0.0602 / 0.0578   0.0669 / 0.0664 / 0.0646   0.639 / 0.610 / 0.613  1.105 / 1.103 / 1.119

Session 5 rejected settings that lower the ratio by weakening the plain model; by the same principle the
default cannot keep a style code that leaves the plain model 13 % worse than it could be. So, in two
stages declared before the held-out run: the reference by plain cross-fitted MSE (12 dimensions; 16 is no
better), then the adversarial settings by the rule (mean gap >= 0.55, lowest mean ratio), at style_dim 12:

    weight  trim  gap                    ratio                     mean gap / ratio
    1.75    0.2   0.598 / 0.625 / 0.637  1.083 / 1.048 / 1.110     0.620 / 1.080
    1.5     0.2   0.581 / 0.562 / 0.589  1.084 / 1.019 / 1.071     0.577 / 1.058  <- chosen
    1.5     0.3   0.567 / 0.548 / 0.575  1.073 / 1.043 / 1.059     0.563 / 1.058
    1.25    0.2   0.533 / 0.555 / 0.558  1.072 / 1.045 / 1.061     0.549 / 1.059
    1.25    0.3   0.541 / 0.539 / 0.569  1.063 / 1.044 / 1.071     0.550 (0.5497) / 1.059

(At style_dim 8, trim 0.3 at weight 1.75, screened after the held-out look above, read 0.564 / 1.016.)
Held out, the second and last look of this session, adopted whatever it showed:

    data    setting                                  seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    LUDB    style_dim 12, trim 0.2, w 1.5 (default)  0     0.874 -> 0.336          0.014   0.625       0.0545 -> 0.0600    1.101
    LUDB    style_dim 12, trim 0.2, w 1.5 (default)  1     0.868 -> 0.326          0.014   0.635       0.0578 -> 0.0633    1.096
    LUDB    style_dim 12, trim 0.2, w 1.5 (default)  2     0.889 -> 0.297          0.014   0.677       0.0521 -> 0.0579    1.110
    LUDB    style_dim 12, trim 0.2, w 1.5 (default)  3     0.865 -> 0.326          0.014   0.633       0.0524 -> 0.0590    1.128
    LUDB    style_dim 12, trim 0.2, w 1.5 (default)  4     0.887 -> 0.343          0.014   0.623       0.0502 -> 0.0569    1.133

Both versions are much better than with 8 style dimensions (plain mean 0.0647 -> 0.0534, adversarial
0.0673 -> 0.0594: the adversarial model now beats the old plain one on every seed), the gap is 0.62-0.68,
and the cost against the stronger reference is 1.096-1.133 (ratio of five-seed means 1.113): the issue's
<= 1.05 is met on no seed. With 8 style dimensions it was met on 4 of 5, against a reference that a
larger code beats by 17 %. The style code is where the plain model keeps beat detail that is partly
subject-specific; the more of it there is, the more the adversary has to take away.

Digits, the same question (nested validation split, seeds 0 / 1 / 2, weight 2 unless noted):

    style_dim  weight  plain MSE                  gap                    ratio
    8          2       0.1409 / 0.1426 / 0.1468   0.637 / 0.635 / 0.679  1.029 / 1.015 / 1.050
    12         2       0.1135 / 0.1156 / 0.1231   0.717 / 0.628 / 0.691  1.078 / 1.068 / 1.059
    12         1.5     (same plain)               0.699 / 0.625 / 0.622  1.054 / 1.066 / 1.063  <- chosen
    12         1.0                                0.598 / 0.554 / 0.536  1.044 / 1.025 / 1.033

12 style dimensions make the plain model ~20 % better; the digits rule (gap >= 0.55 on every seed, lowest
maximum ratio) re-picks weight 1.5 (weight 1: 0.536 on seed 2). 16 dimensions were not tried on digits.
Held out (one look at weight 2 before the weight was re-picked, then the default):

    data    setting                                  seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    digits  style_dim 12, weight 2 (not adopted)     0     0.815 -> 0.372          0.102   0.621       0.1193 -> 0.1247    1.045
    digits  style_dim 12, weight 2 (not adopted)     1     0.763 -> 0.389          0.102   0.566       0.0988 -> 0.1032    1.045
    digits  style_dim 12, weight 2 (not adopted)     2     0.809 -> 0.343          0.102   0.660       0.1079 -> 0.1148    1.063
    digits  style_dim 12, weight 1.5 (default)       0     0.815 -> 0.352          0.102   0.649       0.1193 -> 0.1231    1.032
    digits  style_dim 12, weight 1.5 (default)       1     0.763 -> 0.407          0.102   0.538       0.0988 -> 0.1025    1.037
    digits  style_dim 12, weight 1.5 (default)       2     0.809 -> 0.344          0.102   0.657       0.1079 -> 0.1130    1.047

Seeds 3 and 4, run after the default was set (nothing chosen on them):

    digits  style_dim 12, weight 1.5 (default)       3     0.780 -> 0.437          0.102   0.506       0.0986 -> 0.1034    1.049
    digits  style_dim 12, weight 1.5 (default)       4     0.794 -> 0.357          0.102   0.631       0.1157 -> 0.1260    1.089

Against the stronger reference (plain 0.146 / 0.130 / 0.141 -> 0.119 / 0.099 / 0.108 on seeds 0-2)
digits meets both figures on seeds 0-3 (seed 3 only just: 0.506, 1.049) and misses the reconstruction
bound on seed 4 (1.089); with 8 style dimensions it met all five. LUDB meets the reconstruction bound on
no seed against its stronger reference.

Session 7 (2026-11-27). Cross-fitted screens first (seeds 0 / 1 / 2, the session-6 LUDB default plus the
change; run before the sampler change below, so on the session-6 random stream). Where does the cost
start? Lower adversarial weights (trim 0.2, style_dim 12, plain MSE 0.0583 / 0.0605 / 0.0594):

    weight  gap                    ratio                     mean gap / ratio
    0.25    0.120 / 0.105 / 0.104  1.025 / 1.009 / 1.005     0.110 / 1.013
    0.5     0.254 / 0.236 / 0.325  1.041 / 1.034 / 1.014     0.272 / 1.030
    1.0     0.456 / 0.467 / 0.482  1.068 / 1.032 / 1.048     0.468 / 1.049
    1.25    (session 6)                                      0.549 / 1.059
    1.5     (default)                                        0.577 / 1.058

There is no fixed price for having the adversary: the cost grows from the first tenth of the gap, about
1 + 0.1 x gap cross-fitted (held out reads ~0.05 higher at this style code).

Adversarial fine-tuning from the trained plain model (prototype, code not kept: the plain model's weights,
then 100 epochs at weight 1.5 with a 30-epoch warm-up and the 50-epoch refit), seeds 0 / 1: gap 0.478 /
0.484 at ratio 1.073 / 1.051, no better than training from scratch at weight 1 (0.456 / 0.467 at 1.068 /
1.032).

More data per group: all 12 leads (prototype, code not kept). Every training heartbeat is cut in all 12
leads at lead II's annotated QRS peaks (so a fold's validation heartbeats are out of training in every
lead), groups are subject x lead, each lead is standardised on its own training part, 17 epochs (the
same number of steps as 200 on lead II alone) and a 4-epoch refit; measured on lead II by subject exactly
as above:

    setting                              plain MSE                  gap                    ratio                     mean gap / ratio
    lead II only, weight 1.5 (default)   0.0583 / 0.0605 / 0.0594                                                    0.577 / 1.058
    12 leads, weight 1.5                 0.0546 / 0.0528 / 0.0518   0.164 / 0.178 / 0.130  1.001 / 1.009 / 0.988     0.157 / 0.999
    12 leads, weight 3                   (same)                     0.322 / 0.318 / 0.300  1.021 / 1.033 / 1.005     0.313 / 1.020
    12 leads, weight 6                   (same)                     0.464 / 0.492 / 0.465  1.066 / 1.161 / 1.091     0.474 / 1.106
    12 leads, one lead per batch, w 3    0.0514 / 0.0515 / 0.0531   0.311 / 0.296 / 0.354  1.086 / 1.009 / 1.076     0.320 / 1.057
    12 leads, one lead per batch, w 6    (seed 0)                   0.445                  1.159

The other leads make the plain lead-II model 6-13 % better (one lead per batch: ~12 %), the best
reference found so far, but the adversary then pays more per unit of gap (weight 6: 0.474 at 1.106;
lead II alone at weight 1: 0.468 at 1.049). Not adopted; it also changes the data the issue names
(lead-II beats grouped by subject), so the default's reference stays lead II alone.

Then an engineering change: ``GroupSampler`` builds the member lists once and draws batches vectorised,
and the critic's fresh batch is one draw instead of a whole epoch of which it used the first batch
(20-epoch fits: LUDB 4.58 -> 2.89 s, digits 8.95 -> 4.61 s; the held-out benchmark 60 -> 45 s per LUDB
seed). The draws have the same distribution but a different random stream, so every default number was
measured again (nothing chosen on it):

    data    setting (default)                        seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    LUDB    style_dim 12, trim 0.2, w 1.5            0     0.885 -> 0.315          0.014   0.655       0.0530 -> 0.0579    1.093
    LUDB    style_dim 12, trim 0.2, w 1.5            1     0.866 -> 0.343          0.014   0.614       0.0529 -> 0.0601    1.136
    LUDB    style_dim 12, trim 0.2, w 1.5            2     0.887 -> 0.289          0.014   0.685       0.0536 -> 0.0571    1.065
    LUDB    style_dim 12, trim 0.2, w 1.5            3     0.865 -> 0.326          0.014   0.633       0.0530 -> 0.0606    1.145
    LUDB    style_dim 12, trim 0.2, w 1.5            4     0.897 -> 0.335          0.014   0.637       0.0526 -> 0.0586    1.116
    digits  style_dim 12, weight 1.5                 0     0.787 -> 0.404          0.102   0.559       0.1195 -> 0.1259    1.054
    digits  style_dim 12, weight 1.5                 1     0.798 -> 0.411          0.102   0.556       0.0988 -> 0.1044    1.057
    digits  style_dim 12, weight 1.5                 2     0.765 -> 0.400          0.102   0.550       0.1085 -> 0.1186    1.093
    digits  style_dim 12, weight 1.5                 3     0.820 -> 0.432          0.102   0.541       0.0998 -> 0.1031    1.032
    digits  style_dim 12, weight 1.5                 4     0.772 -> 0.393          0.102   0.566       0.1133 -> 0.1234    1.089

LUDB reads as before (ratio of five-seed means 1.111, was 1.113). Digits shows how much of a seed's
pass or fail is the random stream: the plain model barely moves (0.1193 -> 0.1195, 0.0988 -> 0.0988,
0.1079 -> 0.1085, 0.0986 -> 0.0998, 0.1157 -> 0.1133) but the adversarial game lands elsewhere (ratio
1.032 -> 1.054, 1.037 -> 1.057, 1.047 -> 1.093, 1.049 -> 1.032, 1.089 -> 1.089): four seeds of five met
on the old stream, one on the new. A single seed's ratio carries about +-0.02-0.04 of stream noise, so
the figure to judge is the mean over seeds. Five more seeds of each (5-9, nothing chosen on them):

    data    setting (default)                        seed  style MLP plain -> adv  chance  gap closed  recon plain -> adv  ratio
    LUDB    style_dim 12, trim 0.2, w 1.5            5     0.881 -> 0.305          0.014   0.665       0.0506 -> 0.0574    1.135
    LUDB    style_dim 12, trim 0.2, w 1.5            6     0.884 -> 0.342          0.014   0.623       0.0522 -> 0.0609    1.166
    LUDB    style_dim 12, trim 0.2, w 1.5            7     0.851 -> 0.297          0.014   0.662       0.0530 -> 0.0596    1.125
    LUDB    style_dim 12, trim 0.2, w 1.5            8     0.871 -> 0.297          0.014   0.670       0.0546 -> 0.0621    1.136
    LUDB    style_dim 12, trim 0.2, w 1.5            9     0.879 -> 0.316          0.014   0.651       0.0538 -> 0.0595    1.106
    digits  style_dim 12, weight 1.5                 5     0.756 -> 0.394          0.102   0.552       0.1131 -> 0.1249    1.104
    digits  style_dim 12, weight 1.5                 6     0.826 -> 0.370          0.102   0.629       0.1078 -> 0.1177    1.092
    digits  style_dim 12, weight 1.5                 7     0.765 -> 0.376          0.102   0.587       0.1159 -> 0.1255    1.083
    digits  style_dim 12, weight 1.5                 8     0.746 -> 0.411          0.102   0.520       0.1271 -> 0.1341    1.055
    digits  style_dim 12, weight 1.5                 9     0.782 -> 0.407          0.102   0.550       0.1060 -> 0.1120    1.057

Over seeds 0-9 (``--seeds 0 1 2 3 4 5 6 7 8 9`` now prints this line): LUDB gap 0.649 +- 0.007 (s.e.),
ratio 1.122 +- 0.009, met on 0 of 10 seeds; digits gap 0.561 +- 0.010, ratio 1.072 +- 0.007, met on 1 of
10. Against the 12-dimensional references neither meets the issue's <= 1.05 in expectation: digits misses
it by 0.022 (3 standard errors), LUDB by 0.072 (8).

Digits with the trimmed loss (nested validation split, seeds 0 / 1 / 2, new stream; not run held out):

    setting                 gap                    ratio                     mean gap / ratio
    default (weight 1.5)    0.609 / 0.581 / 0.613  1.076 / 1.048 / 1.056     0.601 / 1.060
    trim 0.1                0.495 / 0.541 / 0.550  1.068 / 1.080 / 1.037     0.529 / 1.062
    trim 0.2                0.413 / 0.474 / 0.511  1.061 / 1.060 / 1.020     0.466 / 1.047
    trim 0.2, weight 2      0.609 / 0.537 / 0.514  1.053 / 1.081 / 1.055     0.553 / 1.063

On digits the trim buys nothing: it narrows the gap at about the same cost (there are no few groups that
carry a factor of their own, as LUDB's flutter subjects do). Not adopted.

Last, the 8-dimensional style code the session-6 switch left behind, on the new stream over the same ten
seeds (``--set style_dim=8 adv_weight=2.0`` on digits, ``--set style_dim=8 adv_weight=1.75`` on LUDB: the
settings chosen on validation before the switch; measured so both references are reported side by side,
not to choose between them, and the defaults stay at 12):

    data    seeds 0-9                    gap closed                                              ratio
    digits  style_dim 8, weight 2        0.640 0.599 0.611 0.589 0.598 0.692 0.688 0.616 0.639 0.583  1.038 0.995 1.013 1.037 1.025 0.978 1.015 1.060 1.020 1.033
    LUDB    style_dim 8, trim, w 1.75    0.665 0.640 0.694 0.666 0.676 0.617 0.660 0.645 0.562 0.649  1.060 1.066 1.051 1.038 1.051 1.010 1.082 1.051 1.009 1.003

    digits: gap 0.625 +- 0.012, ratio 1.021 +- 0.007 (ratio of mean MSEs 1.022), met on 9 of 10 seeds;
            plain MSE 0.130-0.158 (the 12-dimensional default's plain model: 0.099-0.127)
    LUDB:   gap 0.647 +- 0.012, ratio 1.042 +- 0.008 (1.042), met on 4 of 10 seeds (three at 1.051);
            plain MSE 0.061-0.067, adversarial 0.064-0.069 (the default's adversarial model: 0.057-0.062)

So with 8 style dimensions both datasets meet the issue's figures in the mean over ten seeds (LUDB by one
standard error) against plain models 22 % (LUDB) and 31 % (digits) worse in mean MSE; with 12 neither does; the 12-dimensional adversarial model reconstructs LUDB better than
the 8-dimensional plain one on every seed. Which reference the figure is held to is a question for the
issue, stated in the closing note; the defaults were not changed on these held-out numbers.

Where the default's cost sits (cross-fitted, seed 0, folds 0 / 1 / 2, both versions on the new stream;
per-subject extra validation error of the adversarial model): extra error 10 % / 6.4 % / 0.5 % of the
plain total; the ten costliest subjects carry 69 % / 78 % of it in folds 0 / 1, and LUDB 103 (atrial
flutter) is the costliest in all three. The recurring ones are atrial flutter (103, 52, 35), atrial
fibrillation (110, 96, 88, 83) and sinus bradycardia with ventricular extrasystoles (125): beats whose
flutter/fibrillation waves or ectopy vary from beat to beat in a way only that subject shows, so the
per-beat code that reconstructs them also names the subject. The trim (0.2) leaves many of them out
already; 41-62 of 160 subjects reconstruct better with the adversary than without.

A larger content code at style_dim 12 (cross-fitted on the new stream, seeds 0 / 1 / 2; the content code
is where the subject's share of the beat has to go once the style may not carry it):

    content_dim  plain MSE                  gap                    ratio                     mean gap / ratio
    24 (default) 0.0587 / 0.0592 / 0.0592   0.588 / 0.565 / 0.593  1.057 / 1.095 / 1.046     0.582 / 1.066
    32           0.0567 / 0.0588 / 0.0610   0.569 / 0.593 / 0.539  1.096 / 1.090 / 1.055     0.567 / 1.080
    48           0.0587 / 0.0583 / 0.0611   0.612 / 0.557 / 0.582  1.096 / 1.081 / 1.082     0.584 / 1.086

No better reference and a higher cost: not adopted. (The default's cross-fitted figures moved from 0.577 /
1.058 on the old stream to 0.582 / 1.066 on the new.)
"""
from __future__ import annotations

import argparse
import ast
import json
import time
from dataclasses import replace

VALIDATION_FRACTION = {"digits": 0.3, "ecg": 1 / 3}
# Where validation reads the reconstruction cost: the split whose shape mirrors the held-out protocol.
# Digits: the nested split (88 vs 125 training digits per class). LUDB: ~4.8 training beats per subject
# leave no nested split of that shape, so the ratio on the full training part (both versions trained on
# all of it; the adversarial cost is under-fitting, which shows there).
VALIDATION_COST = {"digits": "nested split", "ecg": "full training part"}


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set takes key=value, got {item!r}")
        out[key] = ast.literal_eval(value)
    return out


def _diagnose(data, cfg, every: int = 10) -> None:
    """Per-epoch diagnostics of both versions: recon on the training and test parts (chunks as measured),
    the critic's accuracy on the training styles, KL terms, MI estimate; then how much the decoder uses
    the content (recon error with the style or the content set to its prior mean 0)."""
    import numpy as np
    import torch

    from edgewise.analysis.disentangle import fit_group_vae, heldout_reconstruction
    from edgewise.analysis.disentangle._vae import _standardise_batch

    gid = np.unique(data.g_train, return_inverse=True)[1]
    for name, c in (("plain", replace(cfg, adv_weight=0.0)), ("adversarial", cfg)):
        print(f"-- {name}")

        def callback(epoch, vae, critic, c=c):
            if (epoch + 1) % every:
                return
            vae.eval()
            tr = heldout_reconstruction(vae, data.x_train, data.g_train, group_size=c.group_size)
            te = heldout_reconstruction(vae, data.x_test, data.g_test, group_size=c.group_size)
            acc = float("nan")
            if c.adv_weight > 0 and c.adversary == "classifier":
                with torch.no_grad():
                    s = _standardise_batch(torch.as_tensor(vae.codes(data.x_train, data.g_train)[0]))
                    acc = float((critic(s).argmax(1).numpy() == gid).mean())
            vae.train()
            print(f"epoch {epoch + 1:4d}  recon train {tr:.4f} test {te:.4f}  critic acc (train styles) {acc:.3f}",
                  flush=True)

        vae, hist = fit_group_vae(data.x_train, data.g_train, c, callback=callback)
        for i in range(every - 1, len(hist), every):
            print(f"epoch {i + 1:4d}  " + "  ".join(f"{k} {v:.3f}" for k, v in hist[i].items()))
        s, cont = vae.codes(data.x_train, data.g_train)
        with torch.no_grad():
            dec = lambda a, b: vae.decoder(torch.as_tensor(np.concatenate([a, b], 1))).numpy()  # noqa: E731
            no_style = float(((dec(cont, 0 * s) - data.x_train) ** 2).mean())
            no_content = float(((dec(0 * cont, s) - data.x_train) ** 2).mean())
        print(f"decoder use (training part, per-observation codes): recon MSE with style 0: {no_style:.3f}; "
              f"with content 0: {no_content:.3f}")


def _crossfit(full, cfg, k: int) -> dict:
    """Both versions on each of ``k`` validation folds of ``full``'s training part; per-fold and mean measures."""
    import numpy as np

    from edgewise.analysis.disentangle import compare, validation_folds

    t0, folds = time.perf_counter(), []
    for f, data in enumerate(validation_folds(full, k)):
        comp, _ = compare(data, cfg)
        folds.append({"fold": f, "gap_closed": round(comp.gap_closed, 4), "recon_ratio": round(comp.recon_ratio, 4),
                      "recon_mse_plain": round(comp.plain.recon_mse, 5),
                      "recon_mse_adversarial": round(comp.adversarial.recon_mse, 5)})
        print(f"  seed {cfg.seed} fold {f}: gap {comp.gap_closed:.3f}, ratio {comp.recon_ratio:.4f} "
              f"(plain {comp.plain.recon_mse:.5f} -> adversarial {comp.adversarial.recon_mse:.5f})", flush=True)
    mean = {key: round(float(np.mean([r[key] for r in folds])), 5) for key in folds[0] if key != "fold"}
    print(f"{full.name}, seed {cfg.seed}, {k}-fold cross-fitted ({time.perf_counter() - t0:.0f} s): gap "
          f"{mean['gap_closed']:.3f}, ratio {mean['recon_ratio']:.4f}, plain MSE {mean['recon_mse_plain']:.5f}",
          flush=True)
    return {"crossfit": k, **mean, "folds": folds}


def _seed_summary(rows: list[dict]) -> str:
    """One line over the seeds of one dataset: mean gap and ratio (with standard errors), the ratio of mean
    MSEs, and on how many seeds both figures are met. A single seed's ratio moves by about +-0.03 with the
    random stream alone (docstring, session 7), so the issue's figures are judged on the mean."""
    import numpy as np

    gap = np.array([r["gap_closed"] for r in rows])
    ratio = np.array([r["recon_ratio_selected"] for r in rows])
    se = lambda v: v.std(ddof=1) / np.sqrt(len(v))  # noqa: E731
    pooled = np.mean([r["recon_mse_adversarial"] for r in rows]) / np.mean([r["recon_mse_plain"] for r in rows])
    met = int(((gap >= 0.5) & (ratio <= 1.05)).sum())
    return (f"over {len(rows)} seeds: gap closed {gap.mean():.3f} +- {se(gap):.3f} (s.e.), recon ratio "
            f"{ratio.mean():.3f} +- {se(ratio):.3f} (ratio of mean MSEs {pooled:.3f}); both figures met on {met} of "
            f"{len(rows)} seeds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["digits", "ecg", "both"], default="digits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--adv-weight", type=float, default=None)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override VaeConfig fields")
    parser.add_argument("--validate", action="store_true",
                        help="choose settings without the held-out split: probe gap on a validation split carved "
                             "from the training part, reconstruction cost on the full training part")
    parser.add_argument("--crossfit", type=int, default=None, metavar="K",
                        help="choose settings by cross-fitting instead: K validation folds of every group's training "
                             "members (never the held-out split); prints gap and ratio per fold and their means")
    parser.add_argument("--diagnose", action="store_true", help="print per-epoch diagnostics instead")
    parser.add_argument("--max-records", type=int, default=None, help="ECG: at most this many subjects")
    parser.add_argument("--json-out", default=None, help="also write all results as JSON here")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from edgewise.analysis.disentangle import (
        DEFAULTS,
        Comparison,
        compare,
        grouped_beats,
        grouped_digits,
        training_cost,
        validation_split,
    )
    from edgewise.data.paths import default_dataset_dir

    names = ["digits", "ecg"] if args.data == "both" else [args.data]
    overrides = _overrides(args.set)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.adv_weight is not None:
        overrides["adv_weight"] = args.adv_weight
    results = []
    for name in names:
        for seed in args.seeds:
            cfg = replace(DEFAULTS[name], seed=seed, **overrides)
            if name == "digits":
                full = grouped_digits(seed=seed)
            else:
                ludb = default_dataset_dir("ludb")
                if ludb is None:
                    print("ecg: no LUDB folder (set EDGEWISE_DATA); skipped")
                    continue
                full = grouped_beats(ludb, max_records=args.max_records)
            if args.crossfit:
                results.append({**_crossfit(full, cfg, args.crossfit), "seed": seed, "overrides": overrides})
                continue
            data = validation_split(full, VALIDATION_FRACTION[name]) if args.validate else full
            if args.diagnose:
                print(f"\n{data.name}  (seed {seed})")
                _diagnose(data, cfg)
                continue
            t0 = time.perf_counter()
            comp, _ = compare(data, cfg)
            full_part = args.validate and VALIDATION_COST[name] == "full training part"
            cost = training_cost(full, cfg) if full_part else comp.recon_ratio
            secs = time.perf_counter() - t0
            print(f"\n{comp.data}  (seed {seed}, {cfg.epochs} epochs, {secs:.0f} s)")
            widths = [26, 24, 20, 20, 8, 18]
            print(" | ".join(h[:w].ljust(w) for h, w in zip(Comparison.HEADER, widths)))
            for row in comp.rows():
                cells = [row[0]] + [f"{v:.4f}" for v in row[1:]]
                print(" | ".join(c.ljust(w) for c, w in zip(cells, widths)))
            rec = cost
            ok_gap, ok_rec = comp.gap_closed >= 0.5, rec <= 1.05
            where = VALIDATION_COST[name] if args.validate else "held out"
            print(f"gap closed {comp.gap_closed:.3f} (need >= 0.5: {'ok' if ok_gap else 'SHORT'}); "
                  f"recon ratio {where} {rec:.3f} (need <= 1.05: {'ok' if ok_rec else 'SHORT'}); "
                  f"on this split's training part {comp.train_recon_ratio:.3f}, test part {comp.recon_ratio:.3f}",
                  flush=True)
            results.append({**comp.summary(), "seed": seed, "validate": args.validate, "overrides": overrides,
                            "recon_ratio_selected": round(cost, 4), "seconds": round(secs, 1), "name": name})
        done = [r for r in results if r.get("name") == name]
        if len(done) >= 2:
            print(f"\n{name}, {'validation' if args.validate else 'held out'}, " + _seed_summary(done), flush=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
