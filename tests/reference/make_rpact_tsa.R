# Reference group-sequential designs from R rpact (Wassmer & Pahlke) for tests/test_tsa_rtsa.py: beta-spending
# futility boundaries (binding and non-binding, one-sided), inflation factors of designs with and without
# futility, two-sided designs with beta-spending futility (an inner futility region -f_k < Z_k < f_k, binding and
# non-binding, with rpact's betaAdjustment and twoSidedPower), and the required number of events for a hazard
# ratio (Schoenfeld) of a fixed design.
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

# two-sided designs with beta-spending futility (rpact >= 3.0 calls them experimental and warns so). rpact's
# futility region at look k is the inner interval (-f_k, f_k); f_k is NA where the one-sided design at alpha / 2
# has a negative futility bound (betaAdjustment then rescales the beta spending of the later looks).
two_sided <- list(
  list(rates = c(0.5, 0.75, 1), alpha = 0.05, beta = 0.2, spending = "asOF", binding = FALSE,
       beta_adjustment = TRUE, two_sided_power = FALSE),
  list(rates = c(0.5, 0.75, 1), alpha = 0.05, beta = 0.2, spending = "asOF", binding = TRUE,
       beta_adjustment = TRUE, two_sided_power = FALSE),
  list(rates = c(0.2, 0.4, 0.6, 0.8, 1), alpha = 0.05, beta = 0.2, spending = "asOF", binding = FALSE,
       beta_adjustment = TRUE, two_sided_power = FALSE),
  list(rates = c(0.2, 0.4, 0.6, 0.8, 1), alpha = 0.05, beta = 0.2, spending = "asOF", binding = TRUE,
       beta_adjustment = TRUE, two_sided_power = TRUE),
  list(rates = c(0.2, 0.4, 0.6, 0.8, 1), alpha = 0.05, beta = 0.2, spending = "asOF", binding = FALSE,
       beta_adjustment = FALSE, two_sided_power = FALSE),
  list(rates = c(0.25, 0.5, 0.75, 1), alpha = 0.05, beta = 0.2, spending = "asP", binding = TRUE,
       beta_adjustment = TRUE, two_sided_power = FALSE),
  list(rates = c(0.3, 0.6, 1), alpha = 0.05, beta = 0.1, spending = "asP", binding = FALSE,
       beta_adjustment = TRUE, two_sided_power = TRUE)
)

two_sided_out <- lapply(two_sided, function(d) {
  g <- suppressWarnings(getDesignGroupSequential(
    kMax = length(d$rates), alpha = d$alpha, beta = d$beta, sided = 2, typeOfDesign = d$spending,
    informationRates = d$rates, typeBetaSpending = if (d$spending == "asOF") "bsOF" else "bsP",
    bindingFutility = d$binding, betaAdjustment = d$beta_adjustment, twoSidedPower = d$two_sided_power))
  ch <- getDesignCharacteristics(g)
  list(rates = d$rates, sided = 2, alpha = d$alpha, beta = d$beta, spending = d$spending,
       futility = if (d$binding) "binding" else "non-binding", beta_adjustment = d$beta_adjustment,
       two_sided_power = d$two_sided_power, critical_values = g$criticalValues,
       futility_bounds = g$futilityBounds, alpha_spent = g$alphaSpent, beta_spent = g$betaSpent,
       power = g$power, inflation_factor = ch$inflationFactor, drift = ch$shift^0.5,
       printed = capture.output(print(g)))
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

writeLines(toJSON(list(source = paste("rpact", packageVersion("rpact")), designs = out, two_sided_futility = two_sided_out,
                  events = events),
                  digits = NA, na = "null", auto_unbox = TRUE, pretty = TRUE), "tests/reference/rpact_tsa.json")
