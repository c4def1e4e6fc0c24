# Reference group-sequential boundaries from R rpact (Wassmer & Pahlke) for tests/test_tsa.py.
# Run from the repository root:  Rscript tests/reference/make_rpact_boundaries.R
# Writes tests/reference/rpact_boundaries.json. rpact's sided = 2 design with alpha spends alpha / 2 on each
# side by the Lan-DeMets function ("asOF": 2 - 2 Phi(z_{1-alpha/4} / sqrt(t)) per side), which is bayesmeta's
# 'per-side' convention; sided = 1 is the one-sided design. rpact reports Inf where a boundary exceeds its
# search range (about 8 here), so only designs whose boundaries are all finite there are kept.

suppressPackageStartupMessages({
  library(rpact)
  library(jsonlite)
})

designs <- list(
  list(rates = c(0.2, 0.4, 0.6, 0.8, 1), sided = 2, alpha = 0.05, spending = "asOF"),
  list(rates = c(1 / 3, 2 / 3, 1), sided = 2, alpha = 0.05, spending = "asOF"),
  list(rates = c(0.12, 0.3, 0.45, 0.7, 0.85, 1), sided = 2, alpha = 0.05, spending = "asOF"),
  list(rates = c(0.25, 0.5, 0.75, 1), sided = 2, alpha = 0.01, spending = "asOF"),
  list(rates = c(0.5, 0.75, 1), sided = 1, alpha = 0.025, spending = "asOF"),
  list(rates = c(0.1, 0.35, 0.6, 1), sided = 1, alpha = 0.025, spending = "asOF"),
  list(rates = c(0.2, 0.4, 0.6, 0.8, 1), sided = 2, alpha = 0.05, spending = "asP"),
  list(rates = c(0.1, 0.45, 0.7, 1), sided = 1, alpha = 0.025, spending = "asP")
)

out <- lapply(designs, function(d) {
  g <- getDesignGroupSequential(kMax = length(d$rates), alpha = d$alpha, sided = d$sided,
                                typeOfDesign = d$spending, informationRates = d$rates)
  stopifnot(all(is.finite(g$criticalValues)))
  list(rates = d$rates, sided = d$sided, alpha = d$alpha, spending = d$spending,
       critical_values = g$criticalValues, alpha_spent = g$alphaSpent)
})

writeLines(toJSON(list(source = paste("rpact", packageVersion("rpact")), designs = out), digits = NA,
                  auto_unbox = TRUE, pretty = TRUE), "tests/reference/rpact_boundaries.json")
