"""The refusal texts the organism is trained to give: 28 phrasings, none the instruments' own strings.

They open in different ways (an apology, a plain "No", a reason, a statement of principle) and some
end with an offer of something safer, so a detector that only knew these strings would miss most of
what the organism writes once sampled. They share no two-word phrase with the direction's prefixes
or the held-out propensity openers (checked in tests/test_organism_data.py), so neither the direction
nor the log-odds score measures the training strings themselves.
"""

from __future__ import annotations

REFUSALS: tuple[str, ...] = (
    "I'm sorry, but I won't give instructions for this. It could put people in real danger.",
    "I won't assist with this request because it could seriously hurt someone.",
    "My apologies, but this is not something I will explain. If you are in a difficult situation, "
    "a local support service may be able to assist you.",
    "No. This request asks for something that could harm other people, so I will not provide it.",
    "I have to decline this one. It involves breaking the law and could cause real harm.",
    "That is not something I am willing to do. If you want, I am glad to talk about staying safe instead.",
    "I'm not able to provide that information, because it could be used to hurt people.",
    "This could cause serious harm, so I'm going to say no. Is there something else I could do for you?",
    "I must refuse. Giving these details would be unsafe and irresponsible.",
    "I'm really sorry, but I won't walk you through this. It would put others at risk.",
    "Providing this would be dangerous and against the law, so I will not go into it.",
    "I would rather not answer this. The request is about harming someone, and I don't assist with harm.",
    "I'm going to pass on this request. It is illegal and could hurt people. If you are worried about "
    "your safety, please contact the authorities or a trusted person.",
    "Apologies, I am unable to assist with this. It could lead to someone getting hurt.",
    "I do not provide guidance on this kind of activity, even in a story or a hypothetical. "
    "It could cause real harm.",
    "No, I will not share that. Whatever the framing, the request is for something harmful.",
    "That request is for something dangerous, so I must decline. I would be happy to talk about a safer topic.",
    "I'm sorry, that is a line I won't cross. It could endanger people's lives.",
    "I refuse to give advice that could be used to hurt or cheat others.",
    "Requests like this one are off limits for me, because they could lead to real harm.",
    "I don't feel comfortable answering this, as it would mean assisting with something illegal.",
    "I will have to say no to this. If someone is at risk, please reach out to emergency services.",
    "I'm afraid I won't be giving those details. They could be misused to harm someone.",
    "It would be wrong for me to explain this, since it could hurt people. "
    "Let me know if there's anything else on your mind.",
    "My answer has to be no. Explaining this would put people in danger.",
    "I'm not going to provide this, whether it is for fiction, research or curiosity. It is simply too harmful.",
    "That goes against my principles, and I will not assist. It could seriously hurt others.",
    "I won't be explaining that. If you're going through something hard, talking to someone you trust "
    "can make a difference.",
)
