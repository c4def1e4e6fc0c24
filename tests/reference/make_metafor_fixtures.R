# Reference values from R metafor for tests/test_frequentist*.py and tests/test_escalc.py.
# Run from the repository root:  Rscript tests/reference/make_metafor_fixtures.R
# Writes tests/reference/metafor_fixtures.json. Iterative estimators are run with tight convergence
# settings (threshold and uniroot tolerance 1e-12) so the fixtures hold the exact roots, not values that
# stop at metafor's default tolerances (1e-5 for Fisher scoring, 1.2e-4 for uniroot).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
methods <- c("FE", "DL", "REML", "PM", "ML")

num <- function(x) if (is.null(x) || length(x) == 0 || all(is.na(x))) NA else unname(as.numeric(x))

fit_summary <- function(res) {
  out <- list(
    k = res$k, estimate = num(res$beta[1]), se = num(res$se[1]), zval = num(res$zval[1]),
    pval = num(res$pval[1]), ci_lower = num(res$ci.lb[1]), ci_upper = num(res$ci.ub[1]),
    tau2 = num(res$tau2), tau2_se = num(res$se.tau2), i2 = num(res$I2), h2 = num(res$H2),
    q = num(res$QE), q_df = res$k - res$p, q_p = num(res$QEp)
  )
  if (res$p == 1) {
    pr <- predict(res)
    out$pi_lower <- num(if (is.null(pr$pi.lb)) pr$ci.lb else pr$pi.lb)
    out$pi_upper <- num(if (is.null(pr$pi.ub)) pr$ci.ub else pr$pi.ub)
  } else {
    out$coefficients <- list(
      name = rownames(res$beta), estimate = num(res$beta), se = num(res$se), stat = num(res$zval),
      pval = num(res$pval), ci_lower = num(res$ci.lb), ci_upper = num(res$ci.ub)
    )
    out$qm <- num(res$QM)
    out$qm_df <- res$QMdf[1]
    out$qm_p <- num(res$QMp)
    out$r2 <- num(res$R2)
  }
  out
}

list_table <- function(x) {
  d <- as.data.frame(x)
  list(study = as.character(x$slab), estimate = num(d$estimate), se = num(d$se),
       zval = num(if (is.null(d$zval)) d$tval else d$zval), pval = num(d$pval),
       ci_lower = num(d$ci.lb), ci_upper = num(d$ci.ub), q = num(d$Q), q_p = num(d$Qp),
       tau2 = num(if (is.null(d$tau2)) rep(0, nrow(d)) else d$tau2), i2 = num(d$I2), h2 = num(d$H2))
}

datasets <- list()
fits <- list()
metareg <- list()
confints <- list()
regtests <- list()
loo <- list()
cumuls <- list()
mh <- list()
subgroups <- list()
spearman <- list()

add_fits <- function(name, yi, vi, tests = c("z", "knha"), level = 0.95) {
  for (m in methods) for (tt in tests) {
    res <- rma(yi, vi, method = m, test = tt, level = level, control = tight)
    fits[[length(fits) + 1]] <<- c(list(dataset = name, method = m, test = tt, level = level), fit_summary(res))
  }
}

# --- dat.bcg: log risk ratios (13 trials of BCG vaccine) -------------------------------------------------------
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg,
              slab = paste(author, year))
datasets$bcg <- list(study = as.character(attr(bcg$yi, "slab")), yi = num(bcg$yi), vi = num(bcg$vi),
                     year = bcg$year, ablat = bcg$ablat, alloc = as.character(bcg$alloc),
                     ai = bcg$tpos, n1i = bcg$tpos + bcg$tneg, ci = bcg$cpos, n2i = bcg$cpos + bcg$cneg)
add_fits("bcg", bcg$yi, bcg$vi)
add_fits("bcg", bcg$yi, bcg$vi, tests = "z", level = 0.90)

for (m in methods) for (tt in c("z", "knha")) {
  res <- rma(yi, vi, mods = ~ ablat, data = bcg, method = m, test = tt, control = tight)
  metareg[[length(metareg) + 1]] <- c(list(dataset = "bcg", mods = "ablat", method = m, test = tt), fit_summary(res))
  res <- rma(yi, vi, mods = ~ ablat + year, data = bcg, method = m, test = tt, control = tight)
  metareg[[length(metareg) + 1]] <- c(list(dataset = "bcg", mods = c("ablat", "year"), method = m, test = tt),
                                      fit_summary(res))
}
res <- rma(yi, vi, mods = ~ factor(alloc), data = bcg, method = "REML", control = tight)
metareg[[length(metareg) + 1]] <- c(list(dataset = "bcg", mods = "alloc", method = "REML", test = "z"),
                                    fit_summary(res))

for (lv in c(0.95, 0.80)) {
  ci <- confint(rma(yi, vi, data = bcg, method = "REML", control = tight), level = lv, control = list(tol = 1e-12))
  confints[[length(confints) + 1]] <- list(dataset = "bcg", level = lv, mods = NA,
                                           tau2 = num(ci$random["tau^2", c("ci.lb", "ci.ub")]))
}
ci <- confint(rma(yi, vi, mods = ~ ablat, data = bcg, method = "REML", control = tight), control = list(tol = 1e-12))
confints[[length(confints) + 1]] <- list(dataset = "bcg", level = 0.95, mods = "ablat",
                                         tau2 = num(ci$random["tau^2", c("ci.lb", "ci.ub")]))

rt <- regtest(rma(yi, vi, data = bcg, method = "REML"), model = "lm")
regtests[[length(regtests) + 1]] <- list(dataset = "bcg", zval = num(rt$zval), pval = num(rt$pval), df = rt$dfs,
                                         est = num(rt$est), ci_lower = num(rt$ci.lb), ci_upper = num(rt$ci.ub))

for (m in c("FE", "DL", "REML", "PM")) for (tt in c("z", "knha")) {
  res <- rma(yi, vi, data = bcg, method = m, test = tt, control = tight)
  loo[[length(loo) + 1]] <- list(dataset = "bcg", method = m, test = tt, table = list_table(leave1out(res)))
  cumuls[[length(cumuls) + 1]] <- list(dataset = "bcg", method = m, test = tt, order = "year",
                                       table = list_table(cumul(res, order = bcg$year)))
}

for (meas in c("RR", "OR")) {
  res <- rma.mh(measure = meas, ai = tpos, n1i = tpos + tneg, ci = cpos, n2i = cpos + cneg, data = dat.bcg)
  mh[[length(mh) + 1]] <- list(dataset = "bcg", measure = meas, k = res$k, estimate = num(res$beta),
                               se = num(res$se), zval = num(res$zval), pval = num(res$pval),
                               ci_lower = num(res$ci.lb), ci_upper = num(res$ci.ub), q = num(res$QE),
                               q_p = num(res$QEp), i2 = num(res$I2), h2 = num(res$H2), cmh = num(res$MH),
                               cmh_p = num(res$MHp))
}

# subgroups by allocation: common effect (QM of the factor = Q_total - sum Q_within) and random effects with a
# separate tau^2 per subgroup (Wald-type Q of the subgroup estimates)
subgroup_fixture <- function(name, yi, vi, g, method) {
  lev <- unique(as.character(g))
  per <- lapply(lev, function(l) rma(yi[g == l], vi[g == l], method = method, control = tight))
  est <- sapply(per, function(r) num(r$beta)); se <- sapply(per, function(r) num(r$se))
  between <- if (method == "FE") {
    num(rma(yi, vi, mods = ~ factor(g), method = "FE")$QM)
  } else {
    num(rma(est, sei = se, method = "FE")$QE)
  }
  list(dataset = name, method = method, groups = lev, k = sapply(per, function(r) r$k), estimate = est, se = se,
       tau2 = sapply(per, function(r) num(r$tau2)), q = sapply(per, function(r) num(r$QE)),
       q_between = between, df_between = length(lev) - 1,
       p_between = pchisq(between, df = length(lev) - 1, lower.tail = FALSE))
}
for (m in c("FE", "DL", "REML")) subgroups[[length(subgroups) + 1]] <- subgroup_fixture("bcg", bcg$yi, bcg$vi, bcg$alloc, m)

# --- dat.normand1999: raw mean differences (length of stay, 9 studies) ------------------------------------------
nor <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = dat.normand1999, slab = source)
datasets$normand1999 <- list(study = as.character(nor$source), yi = num(nor$yi), vi = num(nor$vi))
add_fits("normand1999", nor$yi, nor$vi)
confints[[length(confints) + 1]] <- list(
  dataset = "normand1999", level = 0.95, mods = NA,
  tau2 = num(confint(rma(yi, vi, data = nor, control = tight), control = list(tol = 1e-12))$random["tau^2", 2:3]))
rt <- regtest(rma(yi, vi, data = nor), model = "lm")
regtests[[length(regtests) + 1]] <- list(dataset = "normand1999", zval = num(rt$zval), pval = num(rt$pval),
                                         df = rt$dfs, est = num(rt$est), ci_lower = num(rt$ci.lb),
                                         ci_upper = num(rt$ci.ub))

# --- three homogeneous studies: Q < df, every tau^2 estimator truncated at 0 ---------------------------------------
k3 <- list(yi = c(0.10, 0.25, 0.18), vi = c(0.04, 0.05, 0.03))
datasets$k3_homogeneous <- list(study = c("A", "B", "C"), yi = k3$yi, vi = k3$vi)
add_fits("k3_homogeneous", k3$yi, k3$vi)
confints[[length(confints) + 1]] <- list(
  dataset = "k3_homogeneous", level = 0.95, mods = NA,
  tau2 = num(confint(rma(k3$yi, k3$vi, control = tight), control = list(tol = 1e-12))$random["tau^2", 2:3]))

# --- a single study (metafor: tau^2 = 0, Q = 0, I^2 = 0, H^2 = 1) ----------------------------------------------------
datasets$single <- list(study = "A", yi = 0.3, vi = 0.02)
for (m in c("FE", "REML")) {
  res <- suppressWarnings(rma(0.3, 0.02, method = m, control = tight))
  fits[[length(fits) + 1]] <- c(list(dataset = "single", method = m, test = "z", level = 0.95), fit_summary(res))
}

# --- HAIC: overall survival HRs reported with a 95% CI (data/haic_outcomes.csv, 7 studies) -----------------------
os <- data.frame(
  study = c("He2019", "Zheng2022", "Kudo2018", "Ikeda2016", "Mei2021", "Chen2021", "Wang2024"),
  hr = c(0.35, 0.28, 1.009, 0.60, 0.60, 0.52, 0.519),
  lo = c(0.26, 0.15, 0.743, 0.38, 0.43, 0.36, 0.374),
  hi = c(0.48, 0.53, 1.371, 0.96, 0.83, 0.75, 0.722),
  platinum = c("oxaliplatin", "oxaliplatin", "cisplatin", "cisplatin", "oxaliplatin", "oxaliplatin", "oxaliplatin")
)
os$yi <- log(os$hr)
os$vi <- ((log(os$hi) - log(os$lo)) / (2 * qnorm(0.975)))^2
datasets$haic_os <- list(study = os$study, yi = os$yi, vi = os$vi, platinum = os$platinum)
add_fits("haic_os", os$yi, os$vi)
rt <- regtest(rma(yi, vi, data = os), model = "lm")
regtests[[length(regtests) + 1]] <- list(dataset = "haic_os", zval = num(rt$zval), pval = num(rt$pval),
                                         df = rt$dfs, est = num(rt$est), ci_lower = num(rt$ci.lb),
                                         ci_upper = num(rt$ci.ub))
for (m in c("FE", "DL", "REML")) {
  subgroups[[length(subgroups) + 1]] <- subgroup_fixture("haic_os", os$yi, os$vi, os$platinum, m)
  res <- rma(yi, vi, mods = ~ I(platinum == "oxaliplatin"), data = os, method = m, control = tight)
  metareg[[length(metareg) + 1]] <- c(list(dataset = "haic_os", mods = "platinum_oxaliplatin", method = m,
                                           test = "z"), fit_summary(res))
}

# --- HAIC: objective response, arm counts (6 studies) ---------------------------------------------------------------
orr <- data.frame(study = c("He2019", "Zheng2022", "Mei2021", "Chen2021", "Chang2024", "Huang2024"),
                  ai = c(51, 13, 18, 50, 79, 13), n1i = c(125, 32, 45, 84, 103, 63),
                  ci = c(3, 1, 4, 36, 14, 8), n2i = c(122, 32, 25, 86, 61, 60))
orr <- escalc(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = orr)
datasets$haic_orr <- list(study = orr$study, yi = num(orr$yi), vi = num(orr$vi), ai = orr$ai, n1i = orr$n1i,
                          ci = orr$ci, n2i = orr$n2i)
add_fits("haic_orr", orr$yi, orr$vi)
for (meas in c("RR", "OR")) {
  res <- rma.mh(measure = meas, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = orr)
  mh[[length(mh) + 1]] <- list(dataset = "haic_orr", measure = meas, k = res$k, estimate = num(res$beta),
                               se = num(res$se), zval = num(res$zval), pval = num(res$pval),
                               ci_lower = num(res$ci.lb), ci_upper = num(res$ci.ub), q = num(res$QE),
                               q_p = num(res$QEp), i2 = num(res$I2), h2 = num(res$H2), cmh = num(res$MH),
                               cmh_p = num(res$MHp))
}

# Spearman correlation with the t approximation (scipy.stats.spearmanr's p-value)
ct <- cor.test(bcg$ablat, bcg$yi, method = "spearman", exact = FALSE)
spearman[[1]] <- list(x = "bcg$ablat", y = "bcg$yi", rho = num(ct$estimate), p = num(ct$p.value))

# --- escalc: effect sizes from reported statistics (tests/test_escalc.py) --------------------------------------------
# Each case: the inputs, escalc's arguments and its yi, vi (NA where escalc recodes a non-finite result).
escalc_cases <- list()
add_escalc <- function(name, measure, inputs, add = 1/2, to = "only0", drop00 = FALSE) {
  res <- suppressWarnings(do.call(escalc, c(list(measure = measure, add = add, to = to, drop00 = drop00), inputs)))
  escalc_cases[[length(escalc_cases) + 1]] <<- list(
    name = name, measure = measure, add = add, to = to, drop00 = drop00,
    inputs = lapply(inputs, as.numeric), yi = as.numeric(res$yi), vi = as.numeric(res$vi))
}
means_inputs <- function(d) list(m1i = d$m1i, sd1i = d$sd1i, n1i = d$n1i, m2i = d$m2i, sd2i = d$sd2i, n2i = d$n2i)
counts_inputs <- function(ai, n1i, ci, n2i) list(ai = ai, n1i = n1i, ci = ci, n2i = n2i)

# means, SDs and arm sizes: dat.normand1999 (length of stay) and edge cases (n1 + n2 = 3 leaves no degrees of
# freedom for Hedges' correction: NA; both SDs 0: NA; equal means; large arms; a zero SD in one arm)
edges <- data.frame(m1i = c(10, 5, 3.2, -1.5, 101, 7, 7, 0.4), sd1i = c(2, 1, 0.8, 2.5, 15, 0, 3, 0),
                    n1i = c(2, 1, 3, 50, 1000, 4, 12, 5), m2i = c(8, 6, 3.2, 0.5, 100, 6, 5.5, 0.1),
                    sd2i = c(3, 2, 1.1, 2.0, 14, 0, 2, 0.3), n2i = c(2, 2, 2, 60, 900, 4, 3, 5))
for (meas in c("MD", "SMD")) {
  add_escalc("normand1999", meas, means_inputs(dat.normand1999))
  add_escalc("means_edges", meas, means_inputs(edges))
}

# 2x2 tables: dat.bcg, and a crafted table with every kind of zero cell (a = 0, c = 0, no events in both arms,
# b = 0, only events in both arms, none, a = n1 with c = 0, a = 0 with d = 0) under each zero-cell rule
bcg_counts <- counts_inputs(dat.bcg$tpos, dat.bcg$tpos + dat.bcg$tneg, dat.bcg$cpos, dat.bcg$cpos + dat.bcg$cneg)
zeros <- counts_inputs(c(0, 3, 0, 10, 12, 5, 20, 0), c(20, 15, 10, 10, 12, 30, 20, 25),
                       c(5, 0, 0, 8, 9, 7, 0, 25), c(20, 15, 12, 10, 9, 28, 20, 25))
only_double_zero <- counts_inputs(c(0, 5, 3), c(10, 30, 20), c(0, 7, 6), c(12, 28, 22))
for (meas in c("RR", "OR", "RD")) {
  add_escalc("bcg", meas, bcg_counts)
  for (to in c("only0", "all", "if0all", "none")) for (drop00 in c(FALSE, TRUE)) {
    add_escalc("zero_cells", meas, zeros, to = to, drop00 = drop00)
  }
  add_escalc("zero_cells", meas, zeros, add = 1, to = "only0")
  add_escalc("zero_cells", meas, zeros, add = 0.1, to = "all", drop00 = TRUE)
  for (drop00 in c(FALSE, TRUE)) add_escalc("only_double_zero", meas, only_double_zero, to = "if0all", drop00 = drop00)
}

# Peto's one-step log OR of escalc equals (O - E) / V with O - E = a - E(a) and the hypergeometric V
peto <- escalc(measure = "PETO", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg, add = 0, to = "none")
n1 <- dat.bcg$tpos + dat.bcg$tneg; n2 <- dat.bcg$cpos + dat.bcg$cneg; nt <- n1 + n2
events <- dat.bcg$tpos + dat.bcg$cpos
logrank <- list(list(name = "bcg_peto", o_minus_e = dat.bcg$tpos - events * n1 / nt,
                     v = events * (nt - events) * (n1 / nt) * (n2 / nt) / (nt - 1),
                     yi = as.numeric(peto$yi), vi = as.numeric(peto$vi)))
# log-rank O - E and V of survival::survdiff (lung cancer, women vs men): log HR = (O - E) / V, var 1 / V
lung <- survival::survdiff(survival::Surv(time, status) ~ sex, data = survival::lung)
lung_oe <- lung$obs[2] - lung$exp[2]
logrank[[2]] <- list(name = "lung_survdiff", o_minus_e = I(lung_oe), v = I(lung$var[2, 2]),
                     yi = I(lung_oe / lung$var[2, 2]), vi = I(1 / lung$var[2, 2]))

# a ratio with its exact two-sided p-value: yi = log(ratio), vi = (yi / qnorm(1 - p/2))^2 (R's qnorm)
ratio_p <- data.frame(ratio = c(0.43, 1.8, 0.95, 3.2, 0.2), p = c(0.001, 0.04, 0.81, 1e-12, 0.5))
ratio_p$yi <- log(ratio_p$ratio)
ratio_p$vi <- (ratio_p$yi / qnorm(ratio_p$p / 2, lower.tail = FALSE))^2

out <- list(
  generated_by = "tests/reference/make_metafor_fixtures.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  control = "rma(control = list(threshold = 1e-12, tol = 1e-12)); confint(control = list(tol = 1e-12))",
  datasets = datasets, fits = fits, metareg = metareg, confint = confints, regtest = regtests,
  leave1out = loo, cumul = cumuls, mh = mh, subgroups = subgroups, spearman = spearman,
  escalc = escalc_cases, logrank = logrank, ratio_p = as.list(ratio_p)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           "tests/reference/metafor_fixtures.json")
cat("wrote tests/reference/metafor_fixtures.json\n")
