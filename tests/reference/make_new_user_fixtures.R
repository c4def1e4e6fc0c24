# Reference values from R metafor for tests/test_new_user_cases.py: the two gallery cases added as a new user
# would enter them (data/gallery/hackshaw_ets, data/gallery/normand_stroke), pooled with FE, DL and REML.
# Run from the repository root:  Rscript tests/reference/make_new_user_fixtures.R
# Writes tests/reference/new_user_metafor.json (REML with tight convergence, as make_metafor_fixtures.R).
suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
tight <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
summary_of <- function(res) list(estimate = unname(res$beta[1]), se = res$se, ci_lower = res$ci.lb,
                                 ci_upper = res$ci.ub, tau2 = res$tau2, i2 = res$I2, q = res$QE)
fits <- function(yi, vi, ...) sapply(c("FE", "DL", "REML"), function(m)
  summary_of(rma(yi, vi, method = m, control = tight, ...)), simplify = FALSE)

# Hackshaw et al. 1997: ORs with 95% CIs as printed; log OR and its SE from the CI (Tierney et al. 2007).
hk <- read.csv(file.path("data", "gallery", "hackshaw_ets", "outcomes.csv"))
hk_yi <- log(hk$estimate)
hk_vi <- ((log(hk$ci_upper) - log(hk$ci_lower)) / (2 * qnorm(0.975)))^2

# Normand 1999: means, SDs and sizes per arm; MD (escalc "MD": per-arm variances) and SMD (Hedges' g).
nm <- read.csv(file.path("data", "gallery", "normand_stroke", "outcomes.csv"))
md <- escalc("MD", m1i = mean_treatment, sd1i = sd_treatment, n1i = total_treatment,
             m2i = mean_control, sd2i = sd_control, n2i = total_control, data = nm)
smd <- escalc("SMD", m1i = mean_treatment, sd1i = sd_treatment, n1i = total_treatment,
              m2i = mean_control, sd2i = sd_control, n2i = total_control, data = nm)

out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  hackshaw_ets = list(k = nrow(hk), OR = fits(hk_yi, hk_vi)),
  normand_stroke = list(k = nrow(nm), MD = fits(md$yi, md$vi), SMD = fits(smd$yi, smd$vi))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "reference", "new_user_metafor.json"))
message("wrote tests/reference/new_user_metafor.json")
