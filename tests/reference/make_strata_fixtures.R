# Reference values from R metafor 3.8.1 for tests/test_subgroup_strata.py: published subgroup rows recomputed
# from within-trial strata (a row per trial and stratum).
# Data: zelniker2019_outcomes.csv, outcome MACE_ASCVD: each trial's MACE hazard ratio within patients with and
# without established atherosclerotic cardiovascular disease (column ascvd), from PMC8010211 Table 3 (the source
# of each row is in its `source` column); zelniker2019_published.csv: the published rows of Zelniker TA et al.
# (2019) Lancet 393:31-39 (fixed effect), as tabulated in PMC6685897 Table 1, among them MACE by ASCVD:
# yes 0.86 (0.80-0.93), no 1.00 (0.87-1.16).
# Run from the repository root:  Rscript tests/reference/make_strata_fixtures.R
# Writes tests/reference/strata_metafor.json.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

num <- function(x) unname(as.numeric(x))
here <- "tests/reference"
hr <- read.csv(file.path(here, "zelniker2019_outcomes.csv"), check.names = FALSE, stringsAsFactors = FALSE)
pub <- read.csv(file.path(here, "zelniker2019_published.csv"), stringsAsFactors = FALSE)
s <- hr[hr$outcome == "MACE_ASCVD", ]
s$yi <- log(s$estimate)
s$vi <- ((log(s$ci_upper) - log(s$ci_lower)) / (2 * qnorm(0.975)))^2

levels <- list()
for (lv in unique(s$ascvd)) {
  fit <- rma(yi, vi, data = s[s$ascvd == lv, ], method = "FE")
  row <- pub[pub$outcome == "MACE" & pub$analysis == "subgroup" & pub$level == lv, ]
  reported <- round(exp(c(fit$beta[1], fit$ci.lb, fit$ci.ub)), 2)
  # the recomputation reproduces the printed row to its printed digits
  stopifnot(nrow(row) == 1, isTRUE(all.equal(reported, c(row$estimate, row$ci_lower, row$ci_upper))))
  levels[[lv]] <- list(level = lv, k = fit$k, estimate = num(fit$beta[1]), se = num(fit$se),
                       ci_lower = num(fit$ci.lb), ci_upper = num(fit$ci.ub), q = num(fit$QE),
                       hr = num(exp(fit$beta[1])), hr_ci_lower = num(exp(fit$ci.lb)),
                       hr_ci_upper = num(exp(fit$ci.ub)))
}
total <- rma(yi, vi, data = s, method = "FE")
mod <- rma(yi, vi, mods = ~ factor(ascvd), data = s, method = "FE")
q_between <- num(total$QE) - sum(sapply(levels, function(l) l$q))
stopifnot(abs(q_between - num(mod$QM)) < 1e-8)
# Within-trial interactions (Fisher et al. 2017, BMJ 356:j573): per trial with both strata, d = y(no) - y(yes)
# (reference: the most frequent level, yes), v = v(no) + v(yes); the trial is the study_id without its trailing
# parenthesised label. Pooled with rma(yi = d, vi = v), common effect and REML.
s$trial <- sub("\\s*\\([^()]*\\)\\s*$", "", s$study_id)
both <- intersect(s$trial[s$ascvd == "yes"], s$trial[s$ascvd == "no"])
yes <- s[s$ascvd == "yes", ][match(both, s$trial[s$ascvd == "yes"]), ]
no <- s[s$ascvd == "no", ][match(both, s$trial[s$ascvd == "no"]), ]
d <- no$yi - yes$yi
v <- no$vi + yes$vi
pooled <- function(fit) list(estimate = num(fit$beta[1]), se = num(fit$se), ci_lower = num(fit$ci.lb),
                             ci_upper = num(fit$ci.ub), pval = num(fit$pval), tau2 = num(fit$tau2))
interaction <- list(level = "no", reference = "yes", trials = both, d = d, v = v,
                    not_contributing = I(setdiff(unique(s$trial), both)),
                    common = pooled(rma(yi = d, vi = v, method = "FE")),
                    random = pooled(rma(yi = d, vi = v, method = "REML", control = list(threshold = 1e-12))))
# A heterogeneous set of interactions (tau^2 > 0 under REML): the engine's REML beyond the boundary case above.
hd <- c(0.31, -0.12, 0.45, 0.02, -0.28, 0.19)
hv <- c(0.021, 0.034, 0.015, 0.050, 0.027, 0.012)
heterogeneous <- list(d = hd, v = hv, common = pooled(rma(yi = hd, vi = hv, method = "FE")),
                      random = pooled(rma(yi = hd, vi = hv, method = "REML", control = list(threshold = 1e-12))))
out <- list(metafor = as.character(packageVersion("metafor")), outcome = "MACE", strata = "MACE_ASCVD",
            column = "ascvd", levels = unname(levels), qm = num(mod$QM), qm_df = num(mod$QMdf[1]),
            qm_p = num(mod$QMp), q_between = q_between, interaction = interaction,
            interaction_heterogeneous = heterogeneous)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "strata_metafor.json"))
