# Reference values from R metafor for tests/test_plan_formula.py and tests/test_compare_formula.py: the multiple meta-regressions of a plan's
# [covariates] formula on Bangert-Drowns et al. 2004 (writing-to-learn, 48 Hedges' g; metadat
# dat.bangertdrowns2004), read from the committed tests/reference/formula_bd2004/{outcomes,studies}.csv.
# Factors are coded with the reference level bayesmeta takes (the most frequent: grade college, imag no);
# numeric columns are centred at their mean over the studies used, as the reanalysis does (slopes unchanged; one
# fit also uncentred);
# studies with a blank in a formula column are left out (metafor's default na.action).
# Run from the repository root:  Rscript tests/reference/make_formula_fixtures.R
# Writes tests/reference/formula_fixtures.json.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(threshold = 1e-12, maxiter = 10000)
folder <- "tests/reference/formula_bd2004"
effects <- read.csv(file.path(folder, "outcomes.csv"), stringsAsFactors = FALSE)
studies <- read.csv(file.path(folder, "studies.csv"), stringsAsFactors = FALSE, na.strings = "")
d <- merge(effects[, c("study_id", "yi", "vi")], studies, by = "study_id", sort = FALSE)
d$grade <- relevel(factor(d$grade), ref = "college")
d$imag <- relevel(factor(d$imag), ref = "no")
d$meta <- relevel(factor(d$meta), ref = "no")  # 29 no, 17 yes, 2 blank

num <- function(x) unname(as.numeric(x))
fit <- function(mods, data, test) {
  res <- rma(yi, vi, mods = mods, data = data, method = "REML", test = test, control = tight)
  list(test = test, k = res$k, omitted = sort(data$study_id[!res$not.na]), name = rownames(res$beta),
       estimate = num(res$beta), se = num(res$se), pval = num(res$pval), ci_lower = num(res$ci.lb),
       ci_upper = num(res$ci.ub), tau2 = num(res$tau2), qm = num(res$QM), qm_df = num(res$QMdf[1]),
       qm_p = num(res$QMp), qe = num(res$QE), qe_p = num(res$QEp))
}
used <- d[!is.na(d$length), ]
length_center <- mean(used$length)
d$length_c <- d$length - length_center
out <- list(
  grade_imag = list(formula = "grade + imag", center = list(),
                    z = fit(~ grade + imag, d, "z"), knha = fit(~ grade + imag, d, "knha")),
  grade_imag_length = list(formula = "grade + imag + length", center = list(length = length_center),
                           z = fit(~ grade + imag + length_c, d, "z"),
                           knha = fit(~ grade + imag + length_c, d, "knha")),
  # uncentred, as rma(mods = ~ x) and `fit --no-center`: the intercept is the effect at length 0
  grade_imag_length_uncentred = list(formula = "grade + imag + length", center = list(),
                                     z = fit(~ grade + imag + length, d, "z")),
  # a column of the study table that no plan names (a published coefficient's own model)
  grade_meta = list(formula = "grade + meta", center = list(),
                    z = fit(~ grade + meta, d, "z"), knha = fit(~ grade + meta, d, "knha")),
  # one moderator, as a published one-moderator row is recomputed (z, or Knapp-Hartung with test = knha)
  imag = list(formula = "imag", center = list(), z = fit(~ imag, d, "z"), knha = fit(~ imag, d, "knha"))
)
write_json(out, "tests/reference/formula_fixtures.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
