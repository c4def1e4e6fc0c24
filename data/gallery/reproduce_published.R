# Recomputes each gallery case's published pooled results from its outcomes.csv with metafor, with the model
# that reproduces them, and prints both. A sanity check of the data, not a test.
# Run from the repository root:  Rscript data/gallery/reproduce_published.R
suppressPackageStartupMessages(library(metafor))
dir <- file.path("data", "gallery")
show <- function(label, fit, transf = identity, published) {
  p <- predict(fit, transf = transf)
  cat(sprintf("%-52s %7.3f (%7.3f, %7.3f)  tau2 %.4f  I2 %4.1f%%  p %.2g   published %s\n", label,
              p$pred, p$ci.lb, p$ci.ub, if (is.null(fit$tau2)) 0 else fit$tau2, fit$I2, fit$pval, published))
}

mg <- read.csv(file.path(dir, "magnesium_mi", "outcomes.csv"))
cat("magnesium_mi (k =", nrow(mg), ")\n")
args <- list(measure = "OR", ai = mg$events_treatment, n1i = mg$total_treatment,
             ci = mg$events_control, n2i = mg$total_control)
show("  Mantel-Haenszel (common)", do.call(rma.mh, args), exp, "0.99 (0.94-1.04) fixed-effect")
show("  inverse-variance common effect", do.call(rma, c(args, method = "EE")), exp, "0.99 (0.94-1.04) fixed-effect")
show("  random effects, DerSimonian-Laird", do.call(rma, c(args, method = "DL")), exp, "0.66 (0.53-0.82) random")
show("  random effects, REML", do.call(rma, c(args, method = "REML")), exp, "0.66 (0.53-0.82) random")

pk <- read.csv(file.path(dir, "parkinson_offtime", "outcomes.csv"))
cat("parkinson_offtime (k =", nrow(pk), "comparisons from", length(unique(pk$trial)), "trials)\n")
pk <- escalc("MD", m1i = mean_treatment, sd1i = sd_treatment, n1i = total_treatment,
             m2i = mean_control, sd2i = sd_control, n2i = total_control, data = pk)
show("  inverse-variance common effect", rma(yi, vi, data = pk, method = "EE"), identity, "-1.05 (-1.19 to -0.90)")
show("  random effects, DerSimonian-Laird", rma(yi, vi, data = pk, method = "DL"), identity, "-1.05 (-1.19 to -0.90)")
for (cls in c("DA", "COMTI", "MAOBI")) {
  published <- c(DA = "-1.54", COMTI = "-0.83", MAOBI = "-0.93")[[cls]]
  show(sprintf("  %s only (k = %d), common effect", cls, sum(pk$drug_class == cls)),
       rma(yi, vi, data = pk, subset = drug_class == cls, method = "EE"), identity, published)
}

# a case given as ratios with 95% CIs: log ratio and its SE from the CI, pooled three ways
ratio_case <- function(name, published_common, published_random) {
  d <- read.csv(file.path(dir, name, "outcomes.csv"))
  cat(name, "(k =", nrow(d), ")\n")
  d$yi <- log(d$estimate)
  d$sei <- (log(d$ci_upper) - log(d$ci_lower)) / (2 * qnorm(0.975))
  show("  inverse-variance common effect", rma(yi, sei = sei, data = d, method = "EE"), exp, published_common)
  show("  random effects, DerSimonian-Laird", rma(yi, sei = sei, data = d, method = "DL"), exp, published_random)
  show("  random effects, REML", rma(yi, sei = sei, data = d, method = "REML"), exp, published_random)
}

ratio_case("glp1_mace", "0.88 (0.82-0.94) random", "0.88 (0.82-0.94), p<0.0001")
ratio_case("hackshaw_ets", "1.24 (1.13-1.36) random", "1.24 (1.13-1.36), P<0.001")

nm <- read.csv(file.path(dir, "normand_stroke", "outcomes.csv"))
cat("normand_stroke (k =", nrow(nm), "), per-arm SDs\n")
nm <- escalc("MD", m1i = mean_treatment, sd1i = sd_treatment, n1i = total_treatment,
             m2i = mean_control, sd2i = sd_control, n2i = total_control, data = nm)
show("  inverse-variance common effect", rma(yi, vi, data = nm, method = "EE"), identity, "-3.49 (-5.03 to -1.96)")
show("  random effects, DerSimonian-Laird", rma(yi, vi, data = nm, method = "DL"), identity, "-14.10 (-24.45 to -3.75)")
show("  random effects, REML", rma(yi, vi, data = nm, method = "REML"), identity, "-15.12 (-32.67 to 2.43)")
ho <- escalc("MD", m1i = mean_treatment, sd1i = sd_treatment, n1i = total_treatment, m2i = mean_control,
             sd2i = sd_control, n2i = total_control, vtype = "HO",
             data = read.csv(file.path(dir, "normand_stroke", "outcomes.csv")))
cat("normand_stroke, pooled SD (vtype HO, the plan's and Normand's)\n")
show("  inverse-variance common effect", rma(yi, vi, data = ho, method = "EE"), identity, "-3.49 (-5.03 to -1.96)")
show("  random effects, DerSimonian-Laird", rma(yi, vi, data = ho, method = "DL"), identity, "-14.10 (-24.45 to -3.75)")
show("  random effects, REML", rma(yi, vi, data = ho, method = "REML"), identity, "-15.12 (-32.67 to 2.43)")
