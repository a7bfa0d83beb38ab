"""``acwa.heads``: decoupled classifier methods on a frozen backbone.

Train the whole model once with plain instance sampling, then change only its last layer
(Kang et al., "Decoupling representation and classifier for long-tailed recognition", ICLR
2020; Alshammari et al., "Long-tailed recognition via weight balancing", CVPR 2022):

===============================  ===============================================================
:func:`fit_crt`                  cRT: re-initialise the linear head, train it with class-balanced
                                 sampling
:func:`tau_normalize`            ``w_c / ||w_c||^tau``, bias dropped; :func:`choose_tau` picks tau
                                 in [0, 1] on held-out data
:func:`fit_lws`                  LWS: learn per-class logit scales ``f_c``, ``W`` fixed
:func:`fit_ncm`                  NCM: cosine to the class means of L2-normalised features
:func:`fit_weight_balanced`      weight balancing, stage 2: class-balanced loss + MaxNorm
                                 (:func:`max_norm` / :func:`max_norm_`) after every step
:func:`fit_reweighted`           a re-initialised head with the class-balanced loss
===============================  ===============================================================

The contract for a user's model: logits ``head(features(x))`` with a linear head, given as
``model.features`` / ``model.head`` (:func:`split_model`, which also accepts ``fc`` /
``classifier``) or as a ``features_fn`` plus an ``nn.Linear``. :func:`extract_features` runs the
backbone once; every method then works on the ``[N, d]`` feature matrix, and
:class:`HeadModel` reassembles ``head(features(x)) + bias``.

Which methods apply: multi-class heads (``[N, C]``, class ids): all. One-logit binary heads
(``[N, 1]``, labels 0/1) and multi-label heads (``[N, L]``, multi-hot): :func:`fit_crt`,
:func:`fit_weight_balanced`, :func:`fit_reweighted`; tau-normalisation, LWS and NCM raise
``ValueError`` there (a positive scale of one sigmoid logit changes no decision, and class
means need one class per sample). :func:`acwa.auto.select_head` chooses among them on held-out
data.
"""

from acwa.heads._closed_form import TAU_GRID, NCMHead, choose_tau, fit_ncm, max_norm, max_norm_, tau_normalize
from acwa.heads._features import HeadModel, extract_features, split_model
from acwa.heads._train import LWSHead, fit_crt, fit_lws, fit_reweighted, fit_weight_balanced, train_head

__all__ = [
    "split_model",
    "extract_features",
    "HeadModel",
    "fit_crt",
    "tau_normalize",
    "choose_tau",
    "TAU_GRID",
    "fit_lws",
    "LWSHead",
    "fit_ncm",
    "NCMHead",
    "max_norm",
    "max_norm_",
    "fit_weight_balanced",
    "fit_reweighted",
    "train_head",
]
