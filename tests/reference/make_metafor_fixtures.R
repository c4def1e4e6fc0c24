# Reference values from R metafor for tests/test_frequentist*.py.
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

out <- list(
  generated_by = "tests/reference/make_metafor_fixtures.R",
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  control = "rma(control = list(threshold = 1e-12, tol = 1e-12)); confint(control = list(tol = 1e-12))",
  datasets = datasets, fits = fits, metareg = metareg, confint = confints, regtest = regtests,
  leave1out = loo, cumul = cumuls, mh = mh, subgroups = subgroups, spearman = spearman
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           "tests/reference/metafor_fixtures.json")
cat("wrote tests/reference/metafor_fixtures.json\n")
