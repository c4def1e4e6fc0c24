# Niel-Weise et al. (2007, Intensive Care Med 33:2058; metadat dat.nielweise2007): risk differences of
# catheter-related bloodstream infection (escalc "RD", metafor's default 0.5 added to the cells of a study with a
# zero cell) pooled by REML, once with rma's default Fisher scoring (start at the Hedges estimate, stop when
# tau^2 changes by less than threshold = 1e-5) and once converged tightly (threshold 1e-12), and by ML the same
# two ways. On the risk-difference scale tau^2 is about 1e-4, so the default stop lies well before the root.
# Run from the repository root:  Rscript tests/reference/make_nielweise2007_rd.R
# Writes tests/reference/nielweise2007_rd_metafor.json (metafor 3.8-1).
suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
tight <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
dat <- escalc(measure = "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.nielweise2007)
fit <- function(method, control = list()) {
  res <- rma(yi, vi, data = dat, method = method, control = control)
  list(tau2 = res$tau2, estimate = unname(res$beta[1]), se = res$se, ci_lower = res$ci.lb, ci_upper = res$ci.ub)
}
out <- list(
  metafor = as.character(packageVersion("metafor")),
  studies = data.frame(study = paste(dat$author, dat$year, sep = "_"), events_treatment = dat$ai,
                       total_treatment = dat$n1i, events_control = dat$ci, total_control = dat$n2i,
                       yi = as.numeric(dat$yi), vi = as.numeric(dat$vi)),
  REML_default = fit("REML"), REML_tight = fit("REML", tight),
  ML_default = fit("ML"), ML_tight = fit("ML", tight)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/nielweise2007_rd_metafor.json")
