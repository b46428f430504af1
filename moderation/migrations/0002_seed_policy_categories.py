"""Seed the usage-policy categories of CONTRACT §7, with the sample corpus labels as aliases."""

from django.db import migrations

# slug, name, severity, hard_limit, description
CATEGORIES = [
    ("weapons", "Weapons", "critical", True,
     "Developing or acquiring weapons, including chemical, biological, radiological and nuclear."),
    ("autonomous-weapons", "Fully autonomous weapons", "critical", True,
     "Weapons systems that select and engage targets without meaningful human control."),
    ("mass-surveillance", "Mass domestic surveillance", "critical", True,
     "Surveillance of a population at scale, such as tracking people without consent."),
    ("malicious-cyber", "Malicious cyber operations", "high", True,
     "Malware, intrusion, exploitation or disruption of systems without authorization."),
    ("disinformation", "Disinformation campaigns", "high", True,
     "Coordinated deception meant to manipulate public opinion or elections."),
    ("censorship", "Censorship", "high", True,
     "Suppressing lawful speech or access to information for a state or other actor."),
    ("child-safety", "Child safety", "critical", True,
     "Any sexualisation or exploitation of minors."),
    ("foreign-intelligence", "Foreign intelligence analysis", "high", False,
     "Intelligence analysis of foreign actors; allowed only under a contractual exception."),
    ("violence", "Violence", "high", False, "Threats, incitement or glorification of violence."),
    ("hate", "Hate", "high", False, "Hateful content about protected groups."),
    ("harassment", "Harassment", "medium", False, "Harassing, bullying or intimidating people."),
    ("self-harm", "Self-harm", "high", False, "Promoting or instructing self-harm or suicide."),
    ("sexual", "Sexual content", "medium", False, "Sexually explicit content."),
    ("fraud", "Fraud and scams", "medium", False, "Fraud, scams, impersonation and deception."),
    ("privacy", "Privacy violations", "medium", False,
     "Exposing or inferring personal data without consent."),
    ("other", "Other", "low", False, "A usage-policy violation no other category covers."),
]

# The labels of shared/data/moderation-samples-1680.jsonl.gz (Markov et al., 2022).
ALIASES = {
    "S": "sexual",
    "H": "hate",
    "V": "violence",
    "HR": "harassment",
    "SH": "self-harm",
    "S3": "child-safety",
    "H2": "hate",
    "V2": "violence",
}


def seed(apps, schema_editor):
    PolicyCategory = apps.get_model("moderation", "PolicyCategory")
    CategoryAlias = apps.get_model("moderation", "CategoryAlias")
    by_slug = {}
    for slug, name, severity, hard_limit, description in CATEGORIES:
        category, _ = PolicyCategory.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name,
                "severity": severity,
                "hard_limit": hard_limit,
                "description": description,
            },
        )
        by_slug[slug] = category
    for alias, slug in ALIASES.items():
        CategoryAlias.objects.update_or_create(alias=alias, defaults={"category": by_slug[slug]})


def unseed(apps, schema_editor):
    apps.get_model("moderation", "CategoryAlias").objects.filter(alias__in=ALIASES).delete()


class Migration(migrations.Migration):
    dependencies = [("moderation", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
