# Reference values from R metafor for tests/test_covariates_missing_binary.py: one-covariate REML
# meta-regressions of Bangert-Drowns et al. 2004 (metadat dat.bangertdrowns2004, 48 SMDs), each on the studies
# with a value of its covariate (metafor's default na.action: studies with NAs omitted).
# Run from the repository root:  Rscript tests/reference/make_covariate_fixtures.R
# Writes tests/reference/covariate_fixtures.json (the data and the fits).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(threshold = 1e-12, maxiter = 10000)
d <- dat.bangertdrowns2004
d$study_id <- make.unique(paste0(gsub("[^A-Za-z]", "", d$author), d$year), sep = "_")
d$grade_text <- c("elementary", "middle", "high", "college")[d$grade]

num <- function(x) unname(as.numeric(x))
fit <- function(mods, data, center = NA) {
  res <- rma(yi, vi, mods = mods, data = data, method = "REML", control = tight)
  list(k = res$k, omitted = data$study_id[!res$not.na], center = center,
       name = rownames(res$beta), estimate = num(res$beta), se = num(res$se), ci_lower = num(res$ci.lb),
       ci_upper = num(res$ci.ub), tau2 = num(res$tau2), qm = num(res$QM), qm_p = num(res$QMp))
}
d$grade_f <- relevel(factor(d$grade_text), ref = "college")
d$imag_f <- relevel(factor(d$imag), ref = "0")
year_c <- mean(d$year)
length_c <- mean(d$length, na.rm = TRUE)
out <- list(
  data = list(study_id = d$study_id, yi = d$yi, vi = d$vi, year = d$year, grade = d$grade_text,
              length = d$length, minutes = d$minutes, imag = d$imag, meta = d$meta),
  fits = list(
    year = fit(~ year, d),
    year_centred = fit(~ I(year - year_c), d, year_c),
    length = fit(~ length, d),
    length_centred = fit(~ I(length - length_c), d, length_c),
    minutes = fit(~ minutes, d),
    imag = fit(~ imag, d),
    imag_factor = fit(~ imag_f, d),
    meta = fit(~ meta, d),
    grade = fit(~ grade_f, d)
  )
)
write_json(out, "tests/reference/covariate_fixtures.json", digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
