"""Email front-end: subscribers, weekly mail (jinja2 + premailer), SMTP delivery."""
