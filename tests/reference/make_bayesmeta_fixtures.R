# Reference values from R bayesmeta's bmr() for tests/test_rbayesmeta_fixtures.py: the analyses of Roever & Friede
# 2023 (Comput Methods Programs Biomed 229:107303, sec. 3.1 to 3.4; the examples of R bayesmeta's help pages bmr.Rd,
# summary.bmr.Rd, BucherEtAl1997.Rd and RobergeEtAl2017.Rd) and the meta-analyses of Roever 2020 (J Stat Softw
# 93(6); Crins et al. 2014 and the eight schools) as intercept-only regressions (bmr.Rd, example 2).
#
# R bayesmeta 3.x is not packaged for Debian (and this project installs R packages from Debian only). Run with
#   Rscript tests/reference/make_bayesmeta_fixtures.R
# where library(bayesmeta) is available, or set BAYESMETA_R_SOURCE to a file of R code defining bmr() (the
# generic, bmr.default, bmr.escalc), summary.bmr() and dhalfnormal() as R bayesmeta 3.0 does (R/bmr.R of the CRAN
# release 3.0, 2022-02-21, with its kldiv() and beta.convert()), and BAYESMETA_R_VERSION to its version. The
# committed JSON was made the second way, from R/bmr.R of the CRAN sources of bayesmeta 3.0 with what does not
# enter these numbers left out (plots, random draws, shrinkage estimates, ML and MAP estimates, minimum Bayes
# factors, argument checks, named tau priors other than "uniform") and dhalfnormal() written from its definition;
# its groups (below) ran in parallel and their JSON objects were merged in this file's order.
# Writes tests/reference/bayesmeta_fixtures.json (a few minutes per analysis: BAYESMETA_FIXTURES_PARTS, e.g.
# "crins,bucher", runs only those groups and BAYESMETA_FIXTURES_OUT names the output file, so that groups can run
# in parallel and their JSON objects be merged key by key). Data come from the committed CSV files in tests/reference/;
# effects are metafor's escalc(measure = "OR") (0.5 added to the cells of a study with a zero cell; a study
# without events in both arms is kept, as escalc's drop00 = FALSE does).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

source_file <- Sys.getenv("BAYESMETA_R_SOURCE")
if (nzchar(source_file)) {
  source(source_file)
  version <- Sys.getenv("BAYESMETA_R_VERSION", "unknown")
} else {
  suppressPackageStartupMessages(library(bayesmeta))
  version <- as.character(packageVersion("bayesmeta"))
}

ref <- "tests/reference"
all_parts <- "crins,bucher,roberge,onset,selection,schools,refined_crins,refined_schools,refined_roberge"
parts <- strsplit(Sys.getenv("BAYESMETA_FIXTURES_PARTS", all_parts), ",")[[1]]
want <- function(part) part %in% parts
out_file <- Sys.getenv("BAYESMETA_FIXTURES_OUT", file.path(ref, "bayesmeta_fixtures.json"))
num <- function(x) unname(as.numeric(x))
halfnormal <- function(scale) function(t) dhalfnormal(t, scale = scale)
halfcauchy <- function(scale) function(t) ifelse(t < 0, 0, 2 * dcauchy(t, scale = scale))

stats_of <- function(m) {
  # a column of bmr's summary (or a row of summary.bmr's mean/prediction) as a named list
  list(mode = num(m["mode"]), median = num(m["median"]), mean = num(m["mean"]), sd = num(m["sd"]),
       lower = num(m["95% lower"]), upper = num(m["95% upper"]))
}

one_fit <- function(es, X, tau.prior, interval.type, beta.prior.mean = NULL, beta.prior.sd = NULL,
                    X.mean = NULL, X.prediction = NULL, delta = 0.01, epsilon = 1e-4) {
  fit <- bmr(es, X = X, tau.prior = tau.prior, beta.prior.mean = beta.prior.mean,
             beta.prior.sd = beta.prior.sd, interval.type = interval.type, delta = delta, epsilon = epsilon)
  out <- list(bins = length(fit$support$weight), summary = list())
  for (name in colnames(fit$summary)) out$summary[[name]] <- stats_of(fit$summary[, name])
  if (!is.null(X.mean)) {
    out$mean <- list()
    out$prediction <- list()
    for (i in seq_len(nrow(X.mean))) {
      # one row at a time: summary.bmr searches a prediction's mode within the mean's interval of its row
      x <- X.mean[i, , drop = FALSE]
      s <- summary(fit, X.mean = x, X.prediction = if (is.null(X.prediction)) NULL else x)
      out$mean[[rownames(X.mean)[i]]] <- stats_of(s$mean[1, ])
      if (!is.null(X.prediction) && rownames(X.mean)[i] %in% rownames(X.prediction))
        out$prediction[[rownames(X.mean)[i]]] <- stats_of(s$prediction[1, ])
    }
  }
  if (is.finite(fit$marginal.likelihood)) {
    out$marginal_likelihood <- num(fit$marginal.likelihood)
    out$bayesfactor <- as.list(setNames(num(fit$bayesfactor["actual", ]), colnames(fit$bayesfactor)))
  }
  out
}

analysis <- function(source, call, es, X, tau.prior, ..., both = TRUE) {
  out <- list(source = source, call = call, k = nrow(es), yi = num(es$yi), vi = num(es$vi),
              X = unname(X), variables = colnames(X))
  out$shortest <- one_fit(es, X, tau.prior, "shortest", ...)
  if (both) out$central <- one_fit(es, X, tau.prior, "central", ...)
  message(call, ": ", out$shortest$bins, " bins")
  out
}

or_es <- function(d) escalc(measure = "OR", ai = events_treatment, n1i = total_treatment,
                            ci = events_control, n2i = total_control, slab = study, data = d)

fixtures <- list(
  generator = "tests/reference/make_bayesmeta_fixtures.R",
  bayesmeta_version = version,
  r_version = R.version.string,
  metafor_version = as.character(packageVersion("metafor")),
  note = paste("bmr() defaults: delta = 0.01, epsilon = 1e-4 (the DIRECT normal-mixture approximation over tau),",
               "integrate() rel.tol 2^16 * .Machine$double.eps, uniroot() and optimize() default tolerances.",
               "'lower'/'upper' are 95% intervals of the type named by the key (shortest or central).")
)

# ---- Crins et al. 2014 (Roever 2020, sec. 3; Roever & Friede 2023, sec. 3.1) ----------------------------------
crins <- read.csv(file.path(ref, "crins2014_covariates.csv"), stringsAsFactors = FALSE)
crins.es <- or_es(crins)
Xil <- cbind("basiliximab" = as.numeric(crins.es$IL2RA == "basiliximab"),
             "daclizumab" = as.numeric(crins.es$IL2RA == "daclizumab"))
if (want("crins")) {
one <- cbind("intercept" = rep(1, nrow(crins.es)))
fixtures$crins_intercept <- analysis(
  "Roever 2020 (JSS 93(6)), sec. 3, as bmr.Rd example (2): the intercept-only regression of bayesmeta(crins.es, mu.prior.mean = 0, mu.prior.sd = 4, tau.prior = halfnormal(0.5))",
  "bmr(crins.es, tau.prior = function(t) dhalfnormal(t, scale = 0.5), beta.prior.mean = 0, beta.prior.sd = 4)",
  crins.es, one, halfnormal(0.5), beta.prior.mean = 0, beta.prior.sd = 4,
  X.mean = rbind("mu" = 1), X.prediction = rbind("mu" = 1))

il2ra_rows <- rbind("basiliximab" = c(1, 0), "daclizumab" = c(0, 1), "difference" = c(-1, 1))
fixtures$crins_il2ra <- analysis(
  "Roever & Friede 2023, sec. 3.1; summary.bmr.Rd: two indicator covariates (no intercept), halfnormal(0.5) tau prior, flat coefficients",
  "bmr(crins.es, X = X, tau.prior = function(t) dhalfnormal(t, scale = 0.5)); summary(., X.mean, X.prediction)",
  crins.es, Xil, halfnormal(0.5), X.mean = il2ra_rows, X.prediction = il2ra_rows[1:2, ])
fixtures$crins_il2ra_uniform <- analysis(
  "bmr.Rd example (1): the same indicators with bmr's default uniform tau prior",
  "bmr(crins.es, X = X)", crins.es, Xil, "uniform", both = FALSE)
Xoff <- cbind("bas" = 1, "offset.dac" = as.numeric(crins.es$IL2RA == "daclizumab"))
fixtures$crins_il2ra_offset <- analysis(
  "bmr.Rd example (1), alternative design: intercept (basiliximab) and daclizumab offset, uniform tau prior",
  "bmr(crins.es, X = cbind(bas = 1, offset.dac = c(1, 0, 1, 0, 0, 0)))", crins.es, Xoff, "uniform", both = FALSE)
}

# ---- Bucher et al. 1997 (Roever & Friede 2023, sec. 3.2; BucherEtAl1997.Rd) ---------------------------------------
if (want("bucher")) {
bucher <- read.csv(file.path(ref, "bucher1997.csv"), stringsAsFactors = FALSE)
bucher.es <- or_es(bucher)
Xb <- cbind("TMP.DP" = bucher$TMP.DP, "AP.DP" = bucher$AP.DP)
fixtures$bucher <- analysis(
  "Roever & Friede 2023, sec. 3.2; BucherEtAl1997.Rd: network contrasts without intercept, bmr defaults (uniform tau, flat coefficients)",
  "bmr(es, X = X); summary(bmr01, X.mean = contrastX)", bucher.es, Xb, "uniform",
  X.mean = rbind("TMP-SMX vs. D/P" = c(1, 0), "AP vs. D/P" = c(0, 1), "TMP-SMX vs. AP" = c(1, -1)))
}

# ---- Roberge et al. 2017, preeclampsia (Roever & Friede 2023, sec. 3.3 and 3.4; RobergeEtAl2017.Rd) ------------
roberge <- read.csv(file.path(ref, "roberge2017_pe.csv"), stringsAsFactors = FALSE)
roberge$onset <- factor(roberge$onset, levels = c("up to wk 16", "after wk 16"))
es.pe <- or_es(roberge)
X01 <- model.matrix(~ dose, data = es.pe)
colnames(X01) <- c("intercept", "slope")
if (want("roberge")) {
fixtures$roberge_x01 <- analysis(
  "RobergeEtAl2017.Rd: common intercept and dose slope, bmr defaults", "bmr(es.pe, X = X01)",
  es.pe, X01, "uniform", both = FALSE,
  X.mean = rbind("dose=100" = c(1, 100)), X.prediction = rbind("dose=100" = c(1, 100)))
}
if (want("onset")) {
X02 <- model.matrix(~ -1 + onset + onset:dose, data = es.pe)
colnames(X02) <- c("intEarly", "intLate", "slopeEarly", "slopeLate")
rows02 <- rbind("early, 100 mg" = c(1, 0, 100, 0), "late, 100 mg" = c(0, 1, 0, 100),
                "early, 150 mg" = c(1, 0, 150, 0), "late, 50 mg" = c(0, 1, 0, 50))
fixtures$roberge_x02 <- analysis(
  "Roever & Friede 2023, sec. 3.3; bmr.Rd example (3): intercepts and dose slopes by onset (model.matrix(~ -1 + onset + onset:dose)), bmr defaults; predictions as bmr03$qpred()/pred.interval()",
  "bmr(es.pe, X = X02)", es.pe, X02, "uniform", X.mean = rows02, X.prediction = rows02)
}

# Model selection by marginal likelihood (Roever & Friede 2023, sec. 3.4): every prior proper; halfnormal(0.5) for
# tau, normal(0, 4) for intercepts and level differences, normal(0, 0.01) for slopes per mg (1 per 100 mg).
if (want("selection")) {
mods <- list(
  m0 = list(X = cbind("intercept" = rep(1, nrow(es.pe))), sd = 4),
  m1 = list(X = X01, sd = c(4, 0.01)),
  m2 = list(X = model.matrix(~ onset, data = es.pe), sd = c(4, 4)),
  m3 = list(X = model.matrix(~ dose * onset, data = es.pe), sd = c(4, 0.01, 4, 0.01)))
colnames(mods$m2$X) <- c("intercept", "late")
colnames(mods$m3$X) <- c("intercept", "slope", "late", "slope.late")
fixtures$roberge_selection <- list()
for (m in names(mods)) {
  fixtures$roberge_selection[[m]] <- analysis(
    "Roever & Friede 2023, sec. 3.4 kind: model selection by marginal likelihood, proper priors",
    sprintf("bmr(es.pe, X = %s, tau.prior = halfnormal(0.5), beta.prior.mean = 0, beta.prior.sd = c(%s))", m,
            paste(mods[[m]]$sd, collapse = ", ")),
    es.pe, mods[[m]]$X, halfnormal(0.5), beta.prior.mean = rep(0, ncol(mods[[m]]$X)),
    beta.prior.sd = mods[[m]]$sd, both = FALSE)
}
}

# ---- eight schools (Roever 2020 and the bayesmeta vignette), intercept-only ----------------------------------
schools <- read.csv(file.path(ref, "eight_schools.csv"), stringsAsFactors = FALSE)
schools.es <- escalc(measure = "GEN", yi = yi, sei = sei, slab = study, data = schools)
one8 <- cbind("intercept" = rep(1, nrow(schools)))
if (want("schools")) {
fixtures$schools_halfcauchy <- analysis(
  "Roever 2020 / bayesmeta vignette: eight schools, mu ~ normal(0, 50), tau ~ halfcauchy(25)",
  "bmr(schools, tau.prior = function(t) dhalfcauchy(t, scale = 25), beta.prior.mean = 0, beta.prior.sd = 50)",
  schools.es, one8, halfcauchy(25), beta.prior.mean = 0, beta.prior.sd = 50,
  X.mean = rbind("mu" = 1), X.prediction = rbind("mu" = 1))
fixtures$schools_flat <- analysis(
  "Roever 2020 / bayesmeta vignette: eight schools, flat mu, uniform tau (improper)",
  "bmr(schools)", schools.es, one8, "uniform",
  X.mean = rbind("mu" = 1), X.prediction = rbind("mu" = 1))

}

# The same analyses with a finer DIRECT mixture (delta = 0.001, epsilon = 1e-6), where bmr's default one is coarse:
# R's values move towards the exact ones (heavy-tailed tau posteriors, predictions)
fixtures$refined <- list()
if (want("refined_crins"))
  fixtures$refined$crins_il2ra_uniform <- analysis(
    "bmr.Rd example (1), finer mixture", "bmr(crins.es, X = X, delta = 0.001, epsilon = 1e-6)",
    crins.es, Xil, "uniform", both = FALSE, delta = 0.001, epsilon = 1e-6)
if (want("refined_schools"))
  fixtures$refined$schools_halfcauchy <- analysis(
    "eight schools, finer mixture", "bmr(schools, ..., delta = 0.001, epsilon = 1e-6)", schools.es, one8,
    halfcauchy(25), beta.prior.mean = 0, beta.prior.sd = 50, X.mean = rbind("mu" = 1),
    X.prediction = rbind("mu" = 1), both = FALSE, delta = 0.001, epsilon = 1e-6)
if (want("refined_roberge"))
  fixtures$refined$roberge_x01 <- analysis(
    "RobergeEtAl2017.Rd, finer mixture", "bmr(es.pe, X = X01, delta = 0.001, epsilon = 1e-6)",
    es.pe, X01, "uniform", both = FALSE, delta = 0.001, epsilon = 1e-6)
if (length(fixtures$refined) == 0) fixtures$refined <- NULL

writeLines(toJSON(fixtures, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_file)
