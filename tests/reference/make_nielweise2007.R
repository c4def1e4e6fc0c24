# Niel-Weise, Stijnen & van den Broek (2007), Anti-infective-treated central venous catheters: a systematic review of
# randomized controlled trials, Intensive Care Med 33:2058-2068 (metafor's dat.nielweise2007; outcome catheter-related
# bloodstream infection, benefit below OR 1): the log odds ratios and their standard errors of metafor's escalc
# (measure "OR", 0.5 added to every cell of a study with a zero cell; metafor 3.8-1).
# Yucel 2004 (no infection in either arm) is left out, as a normal likelihood leaves a study without a log ratio.
# Run from the repository root: Rscript tests/reference/make_nielweise2007.R
library(metafor)
dat <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.nielweise2007)
dat <- dat[!(dat$ai == 0 & dat$ci == 0), ]
out <- data.frame(study = paste(dat$author, dat$year, sep = "_"), yi = round(as.numeric(dat$yi), 6),
                  sei = round(sqrt(dat$vi), 6))
write.csv(out, "tests/reference/nielweise2007_or.csv", row.names = FALSE, quote = FALSE)
