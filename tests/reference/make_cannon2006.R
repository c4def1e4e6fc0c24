# Cannon et al. 2006 (J Am Coll Cardiol 48:438-445): intensive vs moderate statin therapy, four trials, coronary
# death or myocardial infarction (metafor's dat.cannon2006, ep1t/ep1c), log odds ratios by escalc.
# Run from the repository root: Rscript tests/reference/make_cannon2006.R
library(metafor)
d <- escalc(measure = "OR", ai = ep1t, n1i = nt, ci = ep1c, n2i = nc, data = dat.cannon2006)
out <- data.frame(study = d$trial, yi = as.numeric(d$yi), vi = as.numeric(d$vi))
write.csv(out, "tests/reference/cannon2006.csv", row.names = FALSE)
