# Reference values from R metafor 3.8.1 for tests/test_frequentist_bias.py: trim-and-fill, Begg's rank correlation
# test, PET-PEESE and the step-function selection model.
# Run from the repository root:  Rscript tests/reference/make_bias_fixtures.R
# Writes tests/reference/bias_fixtures.json. Iterative tau^2 estimators run with tight convergence settings
# (threshold 1e-12) so trim-and-fill's refits hold the exact roots. The selection model is fitted twice: with
# metafor's default optimiser settings (optim BFGS, reltol = sqrt(machine eps), numerical gradient) and with
# reltol = 1e-15 (the "tight" fit), both from the ML fit.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
num <- function(x) if (is.null(x) || length(x) == 0 || all(is.na(x))) NA else unname(as.numeric(x))

datasets <- list()

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg,
              slab = paste(author, year))
datasets$bcg <- list(source = "metafor dat.bcg, log risk ratios (escalc RR)", yi = num(bcg$yi), vi = num(bcg$vi))

datasets$hackshaw1998 <- list(source = "metadat dat.hackshaw1998, log odds ratios",
                              yi = num(dat.hackshaw1998$yi), vi = num(dat.hackshaw1998$vi))

datasets$baskerville2012 <- list(source = "metadat dat.baskerville2012, standardised mean differences (smd, se)",
                                 yi = num(dat.baskerville2012$smd), vi = num(dat.baskerville2012$se^2))

datasets$lehmann2018 <- list(source = "metadat dat.lehmann2018, standardised mean differences",
                             yi = num(dat.lehmann2018$yi), vi = num(dat.lehmann2018$vi))

li <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.li2007)
datasets$li2007 <- list(source = "metadat dat.li2007, log odds ratios (escalc OR); its selection model's tau^2 sits at 0",
                        yi = num(li$yi), vi = num(li$vi))

# HAIC: overall survival HRs reported with a 95% CI (data/haic_outcomes.csv, 7 studies), as make_metafor_fixtures.R
os <- data.frame(
  study = c("He2019", "Zheng2022", "Kudo2018", "Ikeda2016", "Mei2021", "Chen2021", "Wang2024"),
  hr = c(0.35, 0.28, 1.009, 0.60, 0.60, 0.52, 0.519),
  lo = c(0.26, 0.15, 0.743, 0.38, 0.43, 0.36, 0.374),
  hi = c(0.48, 0.53, 1.371, 0.96, 0.83, 0.75, 0.722)
)
datasets$haic_os <- list(source = "data/haic_outcomes.csv, OS log hazard ratios from the 95% CI",
                         yi = num(log(os$hr)), vi = num(((log(os$hi) - log(os$lo)) / (2 * qnorm(0.975)))^2))

fit_summary <- function(res) {
  list(k = res$k, estimate = num(res$beta[1]), se = num(res$se[1]), zval = num(res$zval[1]),
       pval = num(res$pval[1]), ci_lower = num(res$ci.lb[1]), ci_upper = num(res$ci.ub[1]),
       tau2 = num(res$tau2), q = num(res$QE), q_p = num(res$QEp), i2 = num(res$I2))
}

coef_table <- function(res) {
  list(name = rownames(res$beta), estimate = num(res$beta), se = num(res$se), stat = num(res$zval),
       pval = num(res$pval), ci_lower = num(res$ci.lb), ci_upper = num(res$ci.ub))
}

trimfills <- list()
ranktests <- list()
petpeese <- list()
selmodels <- list()

for (name in names(datasets)) {
  d <- datasets[[name]]
  yi <- d$yi
  vi <- d$vi

  for (m in c("REML", "FE")) {
    res <- rma(yi, vi, method = m, control = tight)
    for (est in c("L0", "R0")) for (sd in c("auto", "left", "right")) {
      tf <- tryCatch(suppressWarnings(
        if (sd == "auto") trimfill(res, estimator = est, control = tight)
        else trimfill(res, estimator = est, side = sd, control = tight)), error = function(e) e)
      case <- list(dataset = name, method = m, estimator = est, side = sd)
      if (inherits(tf, "error")) {
        case$error <- conditionMessage(tf)
      } else {
        case <- c(case, list(side_used = tf$side, k0 = tf$k0, k0_se = num(tf$se.k0),
                             k0_pval = num(tf$p.k0), filled_yi = num(tf$yi[tf$fill]),
                             filled_vi = num(tf$vi[tf$fill])), list(fit = fit_summary(tf)))
      }
      trimfills[[length(trimfills) + 1]] <- case
    }
  }

  rt <- suppressWarnings(ranktest(yi, vi))
  ties <- any(duplicated(vi))  # the standardised deviates have no ties in these data sets
  ranktests[[length(ranktests) + 1]] <- list(dataset = name, tau = num(rt$tau), pval = num(rt$pval), exact = !ties)
  rt <- ranktest(yi, vi, exact = FALSE)
  ranktests[[length(ranktests) + 1]] <- list(dataset = name, tau = num(rt$tau), pval = num(rt$pval), exact = FALSE)

  for (tt in c("z", "knha")) {
    pet <- suppressWarnings(rma(yi, vi, mods = ~ sqrt(vi), method = "FE", test = tt))
    peese <- suppressWarnings(rma(yi, vi, mods = ~ vi, method = "FE", test = tt))
    petpeese[[length(petpeese) + 1]] <- list(dataset = name, test = tt, pet = coef_table(pet),
                                             peese = coef_table(peese))
  }
}

# selection models: steps chosen so that every interval holds an observed p-value (metafor refuses otherwise)
sel_cases <- list(
  list(dataset = "hackshaw1998", steps = c(0.025, 0.5), alternative = "greater", method = "ML"),
  list(dataset = "hackshaw1998", steps = c(0.025, 0.5), alternative = "greater", method = "FE"),
  list(dataset = "baskerville2012", steps = c(0.025, 0.05), alternative = "greater", method = "ML"),
  list(dataset = "lehmann2018", steps = c(0.025, 0.05, 0.5), alternative = "greater", method = "ML"),
  list(dataset = "bcg", steps = c(0.025, 0.5), alternative = "less", method = "ML"),
  list(dataset = "li2007", steps = c(0.025, 0.5), alternative = "less", method = "ML"),
  list(dataset = "haic_os", steps = c(0.025), alternative = "less", method = "ML")
)
sel_summary <- function(s) {
  list(estimate = num(s$beta), se = num(s$se), zval = num(s$zval), pval = num(s$pval), ci_lower = num(s$ci.lb),
       ci_upper = num(s$ci.ub), tau2 = num(s$tau2), tau2_se = num(s$se.tau2), delta = num(s$delta),
       delta_se = num(s$se.delta), delta_ci_lower = num(s$ci.lb.delta), delta_ci_upper = num(s$ci.ub.delta),
       loglik = num(s$ll), loglik0 = num(s$ll0), lrt = num(s$LRT), lrt_df = s$LRTdf, lrt_pval = num(s$LRTp),
       k_per_interval = as.integer(s$ptable$k), steps = num(s$steps))
}
for (case in sel_cases) {
  d <- datasets[[case$dataset]]
  res <- rma(d$yi, d$vi, method = case$method, control = tight)
  s_default <- selmodel(res, type = "stepfun", steps = case$steps, alternative = case$alternative)
  s_tight <- selmodel(res, type = "stepfun", steps = case$steps, alternative = case$alternative,
                      control = list(reltol = 1e-15, maxit = 10000))
  selmodels[[length(selmodels) + 1]] <- c(case, list(default = sel_summary(s_default), tight = sel_summary(s_tight)))
}

out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  r_version = R.version.string,
  datasets = datasets, trimfill = trimfills, ranktest = ranktests, petpeese = petpeese, selmodel = selmodels
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
           "tests/reference/bias_fixtures.json")
