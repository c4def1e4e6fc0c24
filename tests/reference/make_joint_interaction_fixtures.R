# Reference values from R metafor for tests/test_subgroup_interaction.py: the within-trial interactions of a
# characteristic with three levels pooled jointly (Godolphin, White, Tierney & Fisher 2023, Res Synth Methods
# 14:68): the common-effect model y_il = alpha_i + delta_l + e_il, e_il ~ N(0, v_il), with a fixed intercept per
# trial, is metafor's rma(yi, vi, mods = ~ factor(trial) + factor(level), method = "FE"); the level coefficients
# are the joint interactions against the reference level and QM on them the joint test of no interaction.
# Data: simulated here (set.seed below), eight trials with two or three of the levels low, mid and high (mid, the
# most frequent, is the reference), written to joint_interaction_strata.csv.
# Run from the repository root:  Rscript tests/reference/make_joint_interaction_fixtures.R
# Writes tests/reference/joint_interaction_strata.csv and tests/reference/joint_interaction_metafor.json.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

set.seed(2023)
here <- "tests/reference"
has <- list(c("low", "mid", "high"), c("low", "mid", "high"), c("mid", "high"), c("low", "mid"),
            c("low", "high"), c("low", "mid", "high"), c("mid", "high"), c("low", "mid"))
delta <- c(low = -0.15, mid = 0, high = 0.2)
rows <- do.call(rbind, lapply(seq_along(has), function(i) {
  alpha <- rnorm(1, -0.3, 0.2)
  do.call(rbind, lapply(has[[i]], function(lv) {
    vi <- round(runif(1, 0.01, 0.08), 4)
    data.frame(study_id = sprintf("T%d (%s)", i, lv), outcome = "death_by_age", measure = "HR",
               yi = round(alpha + delta[[lv]] + rnorm(1, 0, sqrt(vi)), 4), vi = vi, age = lv)
  }))
}))
write.csv(rows, file.path(here, "joint_interaction_strata.csv"), row.names = FALSE)
rows$trial <- sub(" \\(.*\\)$", "", rows$study_id)
rows$level <- relevel(factor(rows$age), ref = "mid")
fit <- rma(yi, vi, mods = ~ factor(trial) + level, data = rows, method = "FE",
           control = list(threshold = 1e-12))
coef_rows <- grep("^level", rownames(fit$beta))
out <- list(
  reference = "mid",
  levels = sub("^level", "", rownames(fit$beta)[coef_rows]),
  estimate = unname(as.numeric(fit$beta[coef_rows])),
  se = unname(as.numeric(fit$se[coef_rows])),
  ci_lower = unname(as.numeric(fit$ci.lb[coef_rows])),
  ci_upper = unname(as.numeric(fit$ci.ub[coef_rows])),
  pval = unname(as.numeric(fit$pval[coef_rows])),
  vcov = unname(fit$vb[coef_rows, coef_rows]),
  qm = anova(fit, btt = coef_rows)$QM,
  qm_df = length(coef_rows),
  qm_p = anova(fit, btt = coef_rows)$QMp,
  metafor = as.character(packageVersion("metafor"))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "joint_interaction_metafor.json"))
