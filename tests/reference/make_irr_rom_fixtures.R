# Reference values from R metafor for tests/test_irr_rom.py: the incidence rate ratio (escalc "IRR") on
# dat.hart1999 and the ratio of means (escalc "ROM") on dat.curtis1998, both datasets shipped with metafor.
# Run from the repository root:  Rscript tests/reference/make_irr_rom_fixtures.R
# Writes tests/reference/hart1999_irr.csv and curtis1998_rom.csv (the two datasets as a user's tables, the README's
# examples) and tests/reference/irr_rom_metafor.json: per dataset the input columns under bayesmeta's column names,
# escalc's yi and vi, and rma's pooled estimate, SE, CI and tau^2 for REML and DL (REML run with tight
# convergence settings, so the fixture holds the root rather than a value stopped at metafor's default tolerance).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

tight <- list(threshold = 1e-12, maxiter = 10000)
num <- function(x) unname(as.numeric(x))

pooled <- function(es) {
  out <- list()
  for (method in c("REML", "DL")) {
    res <- rma(yi, vi, data = es, method = method, control = if (method == "REML") tight else list())
    out[[method]] <- list(k = res$k, estimate = num(res$beta[1]), se = num(res$se), ci_lower = num(res$ci.lb),
                          ci_upper = num(res$ci.ub), tau2 = num(res$tau2))
  }
  out
}

# Incidence rate ratio: Hart et al. (1999), warfarin vs placebo or control in atrial fibrillation, strokes over
# patient-years (x1i, t1i treatment; x2i, t2i control).
hart <- dat.hart1999
irr <- escalc(measure = "IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = hart, slab = study)
hart_data <- list(study = as.character(hart$study), events_treatment = hart$x1i,
                  person_time_treatment = hart$t1i, events_control = hart$x2i, person_time_control = hart$t2i,
                  total_treatment = hart$n1i, total_control = hart$n2i)

# Zero counts: the same studies with no strokes in the treatment arm of BAATAF (escalc's default, add = 1/2 to
# both counts of that study) and none in either arm of CAFA (dropped: drop00 = TRUE, bayesmeta's default for a
# ratio of counts).
zero <- hart
zero$x1i[zero$study == "BAATAF"] <- 0
zero$x1i[zero$study == "CAFA"] <- 0
zero$x2i[zero$study == "CAFA"] <- 0
irr0 <- escalc(measure = "IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = zero, drop00 = TRUE)
irr0_keep <- escalc(measure = "IRR", x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = zero)

# Ratio of means: Curtis et al. (1998), woody plant biomass under elevated vs ambient CO2 (Hedges, Gurevitch &
# Curtis 1999 analysed these data as log response ratios).
curtis <- dat.curtis1998
rom <- escalc(measure = "ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
              data = curtis)
curtis_data <- list(study = paste0("curtis", curtis$id), mean_treatment = curtis$m1i,
                    sd_treatment = curtis$sd1i, total_treatment = curtis$n1i, mean_control = curtis$m2i,
                    sd_control = curtis$sd2i, total_control = curtis$n2i)

out <- list(
  metafor_version = as.character(packageVersion("metafor")),
  irr = list(dataset = "dat.hart1999", data = hart_data, yi = num(irr$yi), vi = num(irr$vi), fits = pooled(irr)),
  irr_zero = list(dataset = "dat.hart1999 with BAATAF x1i = 0 and CAFA x1i = x2i = 0",
                  data = list(study = as.character(zero$study), events_treatment = zero$x1i,
                              person_time_treatment = zero$t1i, events_control = zero$x2i,
                              person_time_control = zero$t2i),
                  yi = num(irr0$yi), vi = num(irr0$vi), yi_drop00_false = num(irr0_keep$yi),
                  vi_drop00_false = num(irr0_keep$vi)),
  rom = list(dataset = "dat.curtis1998", data = curtis_data, yi = num(rom$yi), vi = num(rom$vi), fits = pooled(rom))
)
write.csv(as.data.frame(hart_data), "tests/reference/hart1999_irr.csv", row.names = FALSE, quote = FALSE)
write.csv(as.data.frame(curtis_data), "tests/reference/curtis1998_rom.csv", row.names = FALSE, quote = FALSE)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           "tests/reference/irr_rom_metafor.json")
