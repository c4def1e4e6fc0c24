# Reference values from R metafor 3.8.1 for tests/test_frequentist_cli_metafor.py and tests/test_cli_outcome.py:
# the options of `bayesmeta frequentist` on two users' tables:
# - normand1999_outcomes.csv: Normand SLT (1999) Stat Med 18:321-359, length of stay (days) of specialist stroke
#   units vs routine care, means, SDs and arm sizes as metafor's dat.normand1999 (checked below), with the
#   setting of each trial; normand1999_published.csv: the pooled rows of its Table IX;
# - zelniker2019_outcomes.csv: Zelniker TA et al. (2019) Lancet 393:31-39, SGLT2 inhibitor trials, hazard ratios
#   with 95% CIs for four outcomes in one long table (MACE, HHF, CVD, and MACE by ASCVD stratum), each row's
#   source in its `source` column (PMC6685897 Table 1, PMC8112180 Table 1, PMC8010211 Table 3);
# - nielweise2007_counts.csv: Niel-Weise BS et al. (2007) Intensive Care Med 33:2058-2068, arm counts of
#   catheter-related bloodstream infection as metafor's dat.nielweise2007 (checked below), Yucel 2004 without an
#   infection in either arm: the zero-cell rule (--add, --to, --drop00/--no-drop00, escalc's add, to, drop00).
# Run from the repository root:  Rscript tests/reference/make_frequentist_cli_fixtures.R
# Writes tests/reference/frequentist_cli_fixtures.json. Iterative estimators use tight convergence settings.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
num <- function(x) if (is.null(x) || length(x) == 0 || all(is.na(x))) NA else unname(as.numeric(x))
here <- "tests/reference"

pooled <- function(res) list(k = res$k, estimate = num(res$beta[1]), se = num(res$se[1]),
                             ci_lower = num(res$ci.lb[1]), ci_upper = num(res$ci.ub[1]), tau2 = num(res$tau2),
                             i2 = num(res$I2), h2 = num(res$H2), q = num(res$QE), q_p = num(res$QEp))

out <- list(metafor = as.character(packageVersion("metafor")))

# --- Zelniker 2019: one long table, one fit per outcome (--outcome) -------------------------------------------
hr <- read.csv(file.path(here, "zelniker2019_outcomes.csv"), check.names = FALSE, stringsAsFactors = FALSE)
hr$yi <- log(hr$estimate)
hr$sei <- (log(hr$ci_upper) - log(hr$ci_lower)) / (2 * qnorm(0.975))
out$outcome <- list()
for (o in unique(hr$outcome)) {
  e <- hr[hr$outcome == o, ]
  res <- rma(yi, sei = sei, data = e, method = "REML", control = tight)
  out$outcome[[length(out$outcome) + 1]] <- c(list(outcome = o, method = "REML"), pooled(res))
}

# --- Normand 1999: means and SDs as printed, MD with per-arm variances (escalc vtype = "LS") -------------------
md <- read.csv(file.path(here, "normand1999_outcomes.csv"), stringsAsFactors = FALSE)
stopifnot(md$mean_treatment == dat.normand1999$m1i, md$sd_treatment == dat.normand1999$sd1i,
          md$total_treatment == dat.normand1999$n1i, md$mean_control == dat.normand1999$m2i,
          md$sd_control == dat.normand1999$sd2i, md$total_control == dat.normand1999$n2i)
ls <- escalc("MD", m1i = mean_treatment, sd1i = sd_treatment, n1i = total_treatment, m2i = mean_control,
             sd2i = sd_control, n2i = total_control, data = md, slab = study_id)

# --- Q-profile intervals of tau^2, tau, I^2, H^2 (confint.rma.uni; Viechtbauer 2007) ------------------------
confint_row <- function(ci, name) {
  r <- ci$random
  list(estimate = num(r[name, "estimate"]), ci_lower = num(r[name, "ci.lb"]), ci_upper = num(r[name, "ci.ub"]))
}
out$confint <- list()
add_confint <- function(label, outcome, yi, vi, method, level) {
  res <- rma(yi, vi, method = method, level = level, control = tight)
  ci <- confint(res, level = level, control = list(tol = 1e-12, tau2.max = 1e6))
  out$confint[[length(out$confint) + 1]] <<- list(
    dataset = label, outcome = outcome, method = method, level = level,
    tau2 = confint_row(ci, "tau^2"), tau = confint_row(ci, "tau"), i2 = confint_row(ci, "I^2(%)"),
    h2 = confint_row(ci, "H^2"))
}
for (m in c("REML", "DL", "PM", "ML")) for (lv in c(0.95, 0.90)) add_confint("normand", "LOS", ls$yi, ls$vi, m, lv)
for (o in c("HHF", "CVD")) {
  e <- hr[hr$outcome == o, ]
  add_confint("zelniker", o, e$yi, e$sei^2, "REML", 0.95)
}

# --- leave-one-out and cumulative meta-analysis (leave1out, cumul) ------------------------------------------
list_table <- function(x) {
  d <- as.data.frame(x)
  list(study = as.character(x$slab), k = if (is.null(d$k)) NA else d$k, estimate = num(d$estimate),
       se = num(d$se), zval = num(if (is.null(d$zval)) d$tval else d$zval), pval = num(d$pval),
       ci_lower = num(d$ci.lb), ci_upper = num(d$ci.ub), q = num(d$Q), q_p = num(d$Qp),
       tau2 = num(if (is.null(d$tau2)) rep(0, nrow(d)) else d$tau2), i2 = num(d$I2), h2 = num(d$H2))
}
out$leave_one_out <- list()
out$cumulative <- list()
for (m in c("FE", "DL", "REML")) for (tt in c("z", "knha")) {
  if (m == "FE" && tt == "knha") next
  res <- rma(yi, vi, data = ls, method = m, test = tt, control = tight)
  out$leave_one_out[[length(out$leave_one_out) + 1]] <- list(
    dataset = "normand", outcome = "LOS", method = m, test = tt, table = list_table(leave1out(res)))
  out$cumulative[[length(out$cumulative) + 1]] <- list(
    dataset = "normand", outcome = "LOS", method = m, test = tt, order = NA, table = list_table(cumul(res)))
}
res <- rma(yi, vi, data = ls, method = "REML", control = tight)
out$cumulative[[length(out$cumulative) + 1]] <- list(
  dataset = "normand", outcome = "LOS", method = "REML", test = "z", order = "setting",
  table = list_table(cumul(res, order = ls$setting)))
asc <- hr[hr$outcome == "MACE_ASCVD", ]
for (m in c("DL", "REML")) {
  res <- rma(yi, sei = sei, data = asc, method = m, slab = study_id, control = tight)
  out$leave_one_out[[length(out$leave_one_out) + 1]] <- list(
    dataset = "zelniker", outcome = "MACE_ASCVD", method = m, test = "z", table = list_table(leave1out(res)))
  out$cumulative[[length(out$cumulative) + 1]] <- list(
    dataset = "zelniker", outcome = "MACE_ASCVD", method = m, test = "z", order = "year",
    table = list_table(cumul(res, order = asc$year)))
}

# --- meta-regression (--formula) and subgroups (--subgroup) --------------------------------------------------
# bayesmeta codes a factor against its most frequent level (setting: UK; ascvd: yes), so relevel() to it.
coefs <- function(res) list(name = rownames(res$beta), estimate = num(res$beta), se = num(res$se),
                            stat = num(res$zval), pval = num(res$pval), ci_lower = num(res$ci.lb),
                            ci_upper = num(res$ci.ub))
metareg_row <- function(label, outcome, formula, res, ci) {
  list(dataset = label, outcome = outcome, formula = formula, method = res$method, test = res$test,
       k = res$k, tau2 = num(res$tau2), i2 = num(res$I2), h2 = num(res$H2), q = num(res$QE), q_p = num(res$QEp),
       qm = num(res$QM), qm_df = res$QMdf[1], qm_p = num(res$QMp), r2 = num(res$R2), coefficients = coefs(res),
       tau2_ci = if (is.null(ci)) NA else num(ci$random["tau^2", c("ci.lb", "ci.ub")]))
}
out$metareg <- list()
for (m in c("FE", "DL", "REML")) for (tt in c("z", "knha")) {
  if (m == "FE" && tt == "knha") next
  res <- rma(yi, vi, mods = ~ relevel(factor(setting), ref = "UK"), data = ls, method = m, test = tt,
             control = tight)
  ci <- if (m == "FE") NULL else confint(res, control = list(tol = 1e-12, tau2.max = 1e6))
  out$metareg[[length(out$metareg) + 1]] <- metareg_row("normand", "LOS", "setting", res, ci)
}
for (m in c("FE", "REML")) {
  res <- rma(yi, sei = sei, mods = ~ relevel(factor(ascvd), ref = "yes"), data = asc, method = m, control = tight)
  ci <- if (m == "FE") NULL else confint(res, control = list(tol = 1e-12, tau2.max = 1e6))
  out$metareg[[length(out$metareg) + 1]] <- metareg_row("zelniker", "MACE_ASCVD", "ascvd", res, ci)
}
res <- rma(yi, sei = sei, mods = ~ year, data = asc, method = "DL", control = tight)
out$metareg[[length(out$metareg) + 1]] <- metareg_row("zelniker", "MACE_ASCVD", "year", res,
                                                      confint(res, control = list(tol = 1e-12, tau2.max = 1e6)))

# subgroups: a fit per level; the test of subgroup differences of the separate fits (common effect: QM of
# mods = ~ factor, which equals Q_total - sum Q_within; random effects with a tau^2 per subgroup: the Q of the
# subgroup estimates, rma(estimates, sei, method = "FE")$QE, as RevMan); and QM of mods = ~ factor(column)
out$subgroup <- list()
add_subgroup <- function(label, outcome, column, yi, vi, g, method, test = "z") {
  lev <- unique(as.character(g))
  per <- lapply(lev, function(l) rma(yi[g == l], vi[g == l], method = method, test = if (sum(g == l) > 1) test else "z",
                                     control = tight))
  est <- sapply(per, function(r) num(r$beta)); se <- sapply(per, function(r) num(r$se))
  between <- if (method == "FE") rma(yi, vi, mods = ~ factor(g), method = "FE")$QM else
    rma(est, sei = se, method = "FE")$QE
  mod <- rma(yi, vi, mods = ~ factor(g), method = method, test = test, control = tight)
  out$subgroup[[length(out$subgroup) + 1]] <<- list(
    dataset = label, outcome = outcome, column = column, method = method, test = test, levels = lev,
    k = sapply(per, function(r) r$k), estimate = est, se = se,
    ci_lower = sapply(per, function(r) num(r$ci.lb)), ci_upper = sapply(per, function(r) num(r$ci.ub)),
    tau2 = sapply(per, function(r) num(r$tau2)), i2 = sapply(per, function(r) num(r$I2)),
    q = sapply(per, function(r) num(r$QE)), q_between = num(between), df_between = length(lev) - 1,
    p_between = pchisq(num(between), length(lev) - 1, lower.tail = FALSE),
    qm = num(mod$QM), qm_df = mod$QMdf[1], qm_p = num(mod$QMp))
}
for (m in c("FE", "DL", "REML")) add_subgroup("normand", "LOS", "setting", ls$yi, ls$vi, ls$setting, m)
add_subgroup("normand", "LOS", "setting", ls$yi, ls$vi, ls$setting, "REML", "knha")
for (m in c("FE", "REML")) add_subgroup("zelniker", "MACE_ASCVD", "ascvd", asc$yi, asc$sei^2, asc$ascvd, m)

# --- variance type of the MD: escalc(vtype = "HO"), the pooled SD (Normand's published rows) -----------------
ho <- escalc("MD", m1i = mean_treatment, sd1i = sd_treatment, n1i = total_treatment, m2i = mean_control,
             sd2i = sd_control, n2i = total_control, data = md, vtype = "HO", slab = study_id)
out$vtype_ho <- list(study = as.character(md$study_id), yi = num(ho$yi), vi = num(ho$vi), fits = list())
for (m in c("FE", "DL", "REML", "PM", "ML")) {
  res <- rma(yi, vi, data = ho, method = m, control = tight)
  out$vtype_ho$fits[[length(out$vtype_ho$fits) + 1]] <- c(list(method = m), pooled(res))
}

# --- zero cells of arm counts: rma(measure = "OR", add, to, drop00) on dat.nielweise2007 ---------------------
nw <- read.csv(file.path(here, "nielweise2007_counts.csv"), stringsAsFactors = FALSE)
stopifnot(nw$events_treatment == dat.nielweise2007$ai, nw$total_treatment == dat.nielweise2007$n1i,
          nw$events_control == dat.nielweise2007$ci, nw$total_control == dat.nielweise2007$n2i)
out$zero_cells <- list()
for (rule in list(list(add = 1/2, to = "only0", drop00 = TRUE), list(add = 1/2, to = "only0", drop00 = FALSE),
                  list(add = 1/4, to = "all", drop00 = TRUE), list(add = 1/4, to = "all", drop00 = FALSE))) {
  for (m in c("REML", "DL")) {
    res <- suppressWarnings(rma(measure = "OR", ai = events_treatment, n1i = total_treatment, ci = events_control,
                                n2i = total_control, data = nw, add = rule$add, to = rule$to, drop00 = rule$drop00,
                                method = m, control = tight))
    out$zero_cells[[length(out$zero_cells) + 1]] <- c(rule, list(method = m), pooled(res))
  }
}

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path(here, "frequentist_cli_fixtures.json"))
