# Reference for the binomial-normal model on arm counts (tests/test_report_binomial.py): Niel-Weise, Stijnen & van
# den Broek (2007), Intensive Care Med 33:2058-2068 (metafor's dat.nielweise2007; catheter-related bloodstream
# infection, anti-infective-treated vs standard CVC), fitted by maximum likelihood with metafor's rma.glmm,
# model "UM.RS": logit p_ij = alpha_i + x_ij theta_i with x_ij = +1/2 (treatment) and -1/2 (control) (coding = 1/2),
# alpha_i ~ N(m, sigma^2) and theta_i ~ N(mu, tau^2) independent (cor = FALSE): the model of
# bayesmeta.mcmc.fit_binomial_nuts. glmer() fits it with the Laplace approximation (nAGQ = 1). Yucel 2004 (no
# infection in either arm) is dropped (drop00 = TRUE), as the reanalysis drops it by default.
# Writes tests/reference/nielweise2007_counts.csv (the counts, in the outcomes table's columns) and
# tests/reference/binomial_glmm.json. Run from the repository root (metafor 3.8-1, lme4 1.1-31, Debian packages):
#   Rscript tests/reference/make_binomial_fixtures.R
suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})
dat <- dat.nielweise2007
counts <- data.frame(study_id = paste(dat$author, dat$year, sep = "_"), outcome = "CRBSI", measure = "OR",
                     events_treatment = dat$ai, total_treatment = dat$n1i, events_control = dat$ci,
                     total_control = dat$n2i, year = dat$year)
write.csv(counts, "tests/reference/nielweise2007_counts.csv", row.names = FALSE, quote = FALSE)

res <- rma.glmm(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, model = "UM.RS",
                coding = 1/2, cor = FALSE, drop00 = TRUE)
out <- list(
  source = "metafor rma.glmm(measure = 'OR', model = 'UM.RS', coding = 1/2, cor = FALSE, drop00 = TRUE), dat.nielweise2007",
  versions = list(metafor = as.character(packageVersion("metafor")), lme4 = as.character(packageVersion("lme4"))),
  k = res$k, mu = unname(as.numeric(res$beta[1])), se = unname(as.numeric(res$se[1])),
  ci_lower = unname(as.numeric(res$ci.lb[1])), ci_upper = unname(as.numeric(res$ci.ub[1])),
  tau2 = res$tau2, tau = sqrt(res$tau2), sigma2 = res$sigma2
)
write_json(out, "tests/reference/binomial_glmm.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
