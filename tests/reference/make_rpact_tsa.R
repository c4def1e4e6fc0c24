# Reference group-sequential designs from R rpact (Wassmer & Pahlke) for tests/test_tsa_rtsa.py: beta-spending
# futility boundaries (binding and non-binding, one-sided), inflation factors of designs with and without
# futility, and the required number of events for a hazard ratio (Schoenfeld) of a fixed design.
# Run from the repository root:  Rscript tests/reference/make_rpact_tsa.R
# Writes tests/reference/rpact_tsa.json.

suppressPackageStartupMessages({
  library(rpact)
  library(jsonlite)
})

designs <- list(
  list(rates = c(0.5, 0.75, 1), sided = 1, alpha = 0.025, beta = 0.1, spending = "asOF", futility = "none"),
  list(rates = c(0.5, 0.75, 1), sided = 1, alpha = 0.025, beta = 0.1, spending = "asOF", futility = "non-binding"),
  list(rates = c(0.5, 0.75, 1), sided = 1, alpha = 0.025, beta = 0.1, spending = "asOF", futility = "binding"),
  list(rates = c(0.3, 0.6, 0.8, 1), sided = 1, alpha = 0.025, beta = 0.2, spending = "asOF", futility = "binding"),
  list(rates = c(0.25, 0.5, 0.75, 1), sided = 1, alpha = 0.025, beta = 0.2, spending = "asP", futility = "non-binding"),
  list(rates = c(0.2, 0.4, 0.6, 0.8, 1), sided = 2, alpha = 0.05, beta = 0.2, spending = "asOF", futility = "none"),
  list(rates = c(0.2, 0.4, 0.6, 0.8, 1), sided = 2, alpha = 0.05, beta = 0.2, spending = "asP", futility = "none")
)

out <- lapply(designs, function(d) {
  args <- list(kMax = length(d$rates), alpha = d$alpha, beta = d$beta, sided = d$sided,
               typeOfDesign = d$spending, informationRates = d$rates)
  if (d$futility != "none") {
    args$typeBetaSpending <- if (d$spending == "asOF") "bsOF" else "bsP"
    args$bindingFutility <- d$futility == "binding"
  }
  g <- do.call(getDesignGroupSequential, args)
  ch <- getDesignCharacteristics(g)
  res <- list(rates = d$rates, sided = d$sided, alpha = d$alpha, beta = d$beta, spending = d$spending,
              futility = d$futility, critical_values = g$criticalValues,
              inflation_factor = ch$inflationFactor, drift = ch$shift^0.5)
  if (d$futility != "none") res$futility_bounds <- g$futilityBounds
  res
})

# required events of a fixed design, two-sided alpha 0.05 (rpact: sided = 2), 1:1 and 2:1 allocation
events <- lapply(list(list(hr = 0.8, ratio = 1, beta = 0.2), list(hr = 0.75, ratio = 2, beta = 0.1),
                      list(hr = 1.3, ratio = 1, beta = 0.2)), function(e) {
  s <- getSampleSizeSurvival(getDesignGroupSequential(kMax = 1, alpha = 0.05, sided = 2, beta = e$beta),
                             hazardRatio = e$hr, allocationRatioPlanned = e$ratio, lambda2 = 0.1,
                             accrualTime = c(0, 12), followUpTime = 12)
  list(hazard_ratio = e$hr, allocation_ratio = e$ratio, beta = e$beta, alpha = 0.05, sided = 2,
       events = s$maxNumberOfEvents)
})

writeLines(toJSON(list(source = paste("rpact", packageVersion("rpact")), designs = out, events = events),
                  digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/reference/rpact_tsa.json")
